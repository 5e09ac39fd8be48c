using MLNet.Regularization.Layers;

namespace MLNet.Regularization.Tensors;

/// <summary>
/// The geometry of a sliding 2-D window over one NCHW image (convolution or pooling): input size, window size,
/// stride, dilation and the padding before/after each spatial axis. Output size per axis:
/// ⌊(in + padBefore + padAfter − dilation·(window − 1) − 1) / stride⌋ + 1 (ONNX's ceil_mode = 0).
/// </summary>
internal readonly record struct ConvGeometry(
    int Channels, int Height, int Width,
    int KernelHeight, int KernelWidth,
    int StrideHeight, int StrideWidth,
    int DilationHeight, int DilationWidth,
    int PadTop, int PadLeft, int PadBottom, int PadRight)
{
    /// <summary>(top, left, bottom, right) in pixels.</summary>
    public (int Top, int Left, int Bottom, int Right) Pads => (PadTop, PadLeft, PadBottom, PadRight);

    /// <summary>The input rows [start, end) under output row <paramref name="oh"/> of an undilated window, clipped
    /// to the image (pooling).</summary>
    public (int Start, int End) WindowRows(int oh)
    {
        int s = oh * StrideHeight - PadTop;
        return (Math.Max(s, 0), Math.Min(s + KernelHeight, Height));
    }

    /// <summary>The input columns [start, end) under output column <paramref name="ow"/>, clipped to the image.</summary>
    public (int Start, int End) WindowColumns(int ow)
    {
        int s = ow * StrideWidth - PadLeft;
        return (Math.Max(s, 0), Math.Min(s + KernelWidth, Width));
    }

    /// <summary>Output rows.</summary>
    public int OutHeight { get; } = OutSize(Height, KernelHeight, StrideHeight, DilationHeight, PadTop, PadBottom);

    /// <summary>Output columns.</summary>
    public int OutWidth { get; } = OutSize(Width, KernelWidth, StrideWidth, DilationWidth, PadLeft, PadRight);

    /// <summary>Output positions per channel (outH·outW).</summary>
    public int OutPositions => OutHeight * OutWidth;

    /// <summary>Length of one unrolled patch: C·kh·kw.</summary>
    public int PatchSize => Channels * KernelHeight * KernelWidth;

    /// <summary>Values per input image: C·H·W.</summary>
    public int ImageSize => Channels * Height * Width;

    /// <summary>Builds a geometry for an input [C, H, W], resolving "same" padding as ONNX's SAME_UPPER (and Keras /
    /// TensorFlow) do: output ⌈in / stride⌉, total padding split with the odd pixel at the end.</summary>
    public static ConvGeometry Create(string owner, ReadOnlySpan<int> inputShape, int kernelHeight, int kernelWidth, int stride, int dilation, Padding2D padding)
    {
        if (inputShape.Length != 3)
        {
            throw new ArgumentException($"{owner} expects images [channels, height, width], got {Tensor.FormatShape(inputShape)}.");
        }

        int c = inputShape[0], h = inputShape[1], w = inputShape[2];
        if (kernelHeight < 1 || kernelWidth < 1 || stride < 1 || dilation < 1)
        {
            throw new ArgumentException($"{owner}: window {kernelHeight}x{kernelWidth}, stride {stride} and dilation {dilation} must all be positive.");
        }

        // Every extent in long, and each at most MaxExtent, so the int arithmetic of the kernels cannot wrap.
        long windowHeight = (long)dilation * (kernelHeight - 1) + 1, windowWidth = (long)dilation * (kernelWidth - 1) + 1;
        if (windowHeight > MaxExtent || windowWidth > MaxExtent || stride > MaxExtent)
        {
            throw new ArgumentException($"{owner}: a {kernelHeight}x{kernelWidth} window with dilation {dilation} spans {windowHeight}x{windowWidth} pixels (stride {stride}); the most is {MaxExtent:N0}.");
        }

        int top, left, bottom, right;
        if (padding.IsSame)
        {
            (top, bottom) = SamePadding(h, kernelHeight, stride, dilation);
            (left, right) = SamePadding(w, kernelWidth, stride, dilation);
        }
        else
        {
            top = bottom = padding.Height;
            left = right = padding.Width;
        }

        if ((long)h + top + bottom > MaxExtent || (long)w + left + right > MaxExtent)
        {
            throw new ArgumentException($"{owner}: input {Tensor.FormatShape(inputShape)} with padding ({top}, {left}, {bottom}, {right}) is larger than {MaxExtent:N0} pixels per axis.");
        }

        var g = new ConvGeometry(c, h, w, kernelHeight, kernelWidth, stride, stride, dilation, dilation, top, left, bottom, right);
        if (g.OutHeight < 1 || g.OutWidth < 1)
        {
            throw new ArgumentException(
                $"{owner}: a {kernelHeight}x{kernelWidth} window (dilation {dilation}) with padding {padding} does not fit input {Tensor.FormatShape(inputShape)}.");
        }

        return g;
    }

    /// <summary>The largest padded input, window extent or stride along one axis (2^28): far beyond any image, small
    /// enough that positions, strides and windows add up without overflowing an int.</summary>
    internal const int MaxExtent = 1 << 28;

    private static (int Before, int After) SamePadding(int size, int kernel, int stride, int dilation)
    {
        long output = ((long)size + stride - 1) / stride;
        long total = Math.Max(0, (output - 1) * stride + (long)dilation * (kernel - 1) + 1 - size);
        return ((int)(total / 2), (int)(total - total / 2)); // total < stride + window extent, both at most MaxExtent
    }

    private static int OutSize(int size, int kernel, int stride, int dilation, int before, int after)
    {
        long span = (long)size + before + after - (long)dilation * (kernel - 1) - 1;
        return span < 0 ? 0 : (int)Math.Min(int.MaxValue, span / stride + 1);
    }
}
