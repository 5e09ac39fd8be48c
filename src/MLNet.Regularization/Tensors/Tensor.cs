namespace MLNet.Regularization.Tensors;

/// <summary>
/// A dense float tensor: a shape and contiguous row-major storage (NCHW for images).
/// The first dimension is the batch dimension wherever a layer sees a tensor.
/// </summary>
/// <remarks>
/// A tensor is a thin view over a <see cref="float"/> array so that kernels can work on spans without copies.
/// Layers reuse their output tensors between mini-batches of the same shape; a tensor returned by a layer is
/// valid until that layer runs again.
/// </remarks>
public sealed class Tensor
{
    private readonly int[] _shape;

    /// <summary>Creates a zero-filled tensor of the given shape.</summary>
    /// <param name="shape">The size of every dimension; each must be positive.</param>
    public Tensor(params int[] shape)
        : this(new float[CheckedLength(shape)], shape)
    {
    }

    /// <summary>Wraps existing storage (no copy) with the given shape.</summary>
    /// <param name="data">Row-major storage; its length must equal the product of <paramref name="shape"/>.</param>
    /// <param name="shape">The size of every dimension.</param>
    public Tensor(float[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        long length = CheckedLength(shape);
        if (data.Length != length)
        {
            throw new ArgumentException(
                $"data has {data.Length} values but shape [{string.Join(", ", shape)}] needs {length}.", nameof(data));
        }

        Data = data;
        _shape = (int[])shape.Clone();
    }

    /// <summary>The row-major storage.</summary>
    public float[] Data { get; }

    /// <summary>The size of every dimension (a copy-free read-only view).</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>The number of values.</summary>
    public int Length => Data.Length;

    /// <summary>The size of the first (batch) dimension.</summary>
    public int BatchSize => _shape[0];

    /// <summary>The number of values per example: the product of all dimensions but the first.</summary>
    public int SampleSize => _shape.Length == 0 ? 1 : Data.Length / Math.Max(1, _shape[0]);

    /// <summary>The storage as a span.</summary>
    public Span<float> Span => Data;

    /// <summary>Size of dimension <paramref name="axis"/>.</summary>
    public int Dim(int axis) => _shape[axis];

    /// <summary>True when this tensor has exactly the given shape.</summary>
    public bool HasShape(ReadOnlySpan<int> shape) => shape.SequenceEqual(_shape);

    /// <summary>A new tensor with copied storage and the same shape.</summary>
    public Tensor Clone() => new((float[])Data.Clone(), _shape);

    /// <summary>A view of the same storage with another shape of equal length.</summary>
    public Tensor Reshape(params int[] shape) => new(Data, shape);

    /// <summary>Shape as text, for error messages and summaries: <c>[128, 784]</c>.</summary>
    public string ShapeText => FormatShape(_shape);

    /// <inheritdoc />
    public override string ToString() => $"Tensor{ShapeText}";

    /// <summary>Formats a shape as <c>[a, b, c]</c>.</summary>
    public static string FormatShape(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    /// <summary>Returns <paramref name="existing"/> when it already has <paramref name="shape"/>, otherwise a new
    /// zero-filled tensor of that shape. This is how layers reuse buffers across mini-batches.</summary>
    public static Tensor Reuse(Tensor? existing, ReadOnlySpan<int> shape)
    {
        if (existing is not null && existing.HasShape(shape))
        {
            return existing;
        }

        return new Tensor(shape.ToArray());
    }

    /// <summary><see cref="Reuse(Tensor?, ReadOnlySpan{int})"/> for shape [batch, ..sampleShape], without
    /// allocating when <paramref name="existing"/> fits.</summary>
    public static Tensor Reuse(Tensor? existing, int batch, ReadOnlySpan<int> sampleShape)
    {
        Span<int> shape = stackalloc int[sampleShape.Length + 1];
        shape[0] = batch;
        sampleShape.CopyTo(shape[1..]);
        return Reuse(existing, shape);
    }

    private static int CheckedLength(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long length = 1;
        foreach (int d in shape)
        {
            if (d <= 0)
            {
                throw new ArgumentException($"every dimension must be positive, got shape {FormatShape(shape)}.", nameof(shape));
            }

            length *= d;
            if (length > Array.MaxLength)
            {
                throw new ArgumentException($"shape {FormatShape(shape)} holds more values than one array can.", nameof(shape));
            }
        }

        return (int)length;
    }
}
