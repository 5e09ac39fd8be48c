using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Layers;

/// <summary>The validated window of a pooling layer: size, stride (default: the window size) and padding.</summary>
internal readonly record struct PoolSettings(int Height, int Width, int Stride, Padding2D Padding)
{
    public static PoolSettings Validate(string owner, (int Height, int Width) pool, int? stride, Padding2D padding)
    {
        if (pool.Height <= 0 || pool.Width <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pool), pool, $"{owner} window sizes must be positive.");
        }

        int s = stride ?? Math.Max(pool.Height, pool.Width);
        if (s <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(stride), stride, $"{owner} stride must be positive.");
        }

        // ONNX pooling requires each pad to be smaller than the window, so that no window lies entirely in padding.
        if (!padding.IsSame && (padding.Height >= pool.Height || padding.Width >= pool.Width))
        {
            throw new ArgumentOutOfRangeException(nameof(padding), padding.ToString(), $"{owner} padding must be smaller than the {pool.Height}x{pool.Width} window.");
        }

        return new PoolSettings(pool.Height, pool.Width, s, padding);
    }

    public ConvGeometry Geometry(string owner, ReadOnlySpan<int> inputShape) =>
        ConvGeometry.Create(owner, inputShape, Height, Width, Stride, 1, Padding);

    public string Describe() => FormattableString.Invariant($"pool={Height}x{Width}, stride={Stride}, padding={Padding}");
}
