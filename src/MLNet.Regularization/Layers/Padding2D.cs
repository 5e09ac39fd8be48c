using System.Globalization;

namespace MLNet.Regularization.Layers;

/// <summary>
/// Zero padding of a convolution or pooling window: explicit (the same number of pixels before and after each
/// spatial axis) or <see cref="Same"/>. Converts implicitly from an <see cref="int"/> (<c>padding: 1</c>) and from the
/// strings <c>"same"</c> and <c>"valid"</c> (<c>padding: "same"</c>), as Keras and PyTorch users write it.
/// </summary>
/// <remarks>
/// "Same" gives an output of ⌈input / stride⌉ pixels per axis. The total padding
/// (output − 1)·stride + dilation·(kernel − 1) + 1 − input is split with the odd pixel after the image, as ONNX's
/// <c>auto_pad = SAME_UPPER</c>, Keras and TensorFlow do.
/// </remarks>
public readonly struct Padding2D : IEquatable<Padding2D>
{
    private Padding2D(int height, int width, bool same)
    {
        Height = height;
        Width = width;
        IsSame = same;
    }

    /// <summary>Explicit padding of <paramref name="pixels"/> on every side.</summary>
    /// <param name="pixels">Pixels added before and after each spatial axis (non-negative).</param>
    public Padding2D(int pixels)
        : this(pixels, pixels)
    {
    }

    /// <summary>Explicit padding per axis.</summary>
    /// <param name="height">Rows added above and below.</param>
    /// <param name="width">Columns added left and right.</param>
    public Padding2D(int height, int width)
        : this(CheckPixels(height, nameof(height)), CheckPixels(width, nameof(width)), false)
    {
    }

    /// <summary>Output size ⌈input / stride⌉, padding computed from the input at build time.</summary>
    public static Padding2D Same { get; } = new(0, 0, true);

    /// <summary>No padding: windows stay inside the image.</summary>
    public static Padding2D Valid { get; } = new(0, 0, false);

    /// <summary>True for "same" padding.</summary>
    public bool IsSame { get; }

    /// <summary>Rows added above and below (0 for "same", which is resolved when the layer is built).</summary>
    public int Height { get; }

    /// <summary>Columns added left and right (0 for "same").</summary>
    public int Width { get; }

    /// <summary>Explicit padding of <paramref name="pixels"/> on every side.</summary>
    public static implicit operator Padding2D(int pixels) => new(pixels);

    /// <summary>"same" or "valid" (case-insensitive); anything else throws <see cref="ArgumentException"/>.</summary>
    public static implicit operator Padding2D(string mode) => Parse(mode);

    /// <summary>Equality.</summary>
    public static bool operator ==(Padding2D left, Padding2D right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(Padding2D left, Padding2D right) => !left.Equals(right);

    /// <summary>Parses "same" or "valid" (case-insensitive) or a non-negative integer.</summary>
    /// <param name="mode">The text.</param>
    public static Padding2D Parse(string mode)
    {
        ArgumentNullException.ThrowIfNull(mode);
        string m = mode.Trim();
        if (m.Equals("same", StringComparison.OrdinalIgnoreCase))
        {
            return Same;
        }

        if (m.Equals("valid", StringComparison.OrdinalIgnoreCase))
        {
            return Valid;
        }

        if (int.TryParse(m, NumberStyles.Integer, CultureInfo.InvariantCulture, out int pixels) && pixels >= 0)
        {
            return new Padding2D(pixels);
        }

        throw new ArgumentException($"padding '{mode}' is not understood: use \"same\", \"valid\" or a number of pixels.", nameof(mode));
    }

    /// <inheritdoc />
    public bool Equals(Padding2D other) => IsSame == other.IsSame && Height == other.Height && Width == other.Width;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Padding2D other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(IsSame, Height, Width);

    /// <summary><c>same</c>, or the pixels as <c>1</c> or <c>(1, 2)</c>.</summary>
    public override string ToString() =>
        IsSame ? "same" : Height == Width ? Height.ToString(CultureInfo.InvariantCulture) : FormattableString.Invariant($"({Height}, {Width})");

    private static int CheckPixels(int pixels, string name) =>
        pixels >= 0 ? pixels : throw new ArgumentOutOfRangeException(name, pixels, "padding must be non-negative.");
}
