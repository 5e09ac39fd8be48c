using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// The shape of one example as the network reads it, worked out from the features column and the options, and the
/// checks that refuse an image column laid out differently from the network (height × width × channels from
/// <c>ExtractPixels(interleavePixelColors: true)</c>, or another number of channels) with a message that names the
/// ExtractPixels settings to use — a silently transposed image trains and predicts, just wrongly.
/// </summary>
internal static class InputLayout
{
    /// <summary>The per-example shape for training: <paramref name="inputShape"/> if given, the column's own three
    /// dimensions for a convolutional network, else the flat width.</summary>
    public static int[] Resolve(DataViewSchema.Column column, int[]? inputShape, bool convolutional)
    {
        var vector = (VectorDataViewType)column.Type;
        int[] dims = [.. vector.Dimensions];
        if (inputShape is not null)
        {
            Check(column, inputShape);
            return (int[])inputShape.Clone();
        }

        if (!convolutional)
        {
            return [vector.Size];
        }

        if (dims.Length != 3)
        {
            throw new ArgumentException(
                $"the network has convolutional layers, so it reads images (channels × height × width), but features column '{column.Name}' is {Describe(dims)}: " +
                "set RegularizedNetworkOptions.InputShape (such as [1, 28, 28]) or make the column with ExtractPixels(..., interleavePixelColors: false).", "input");
        }

        if (LooksInterleaved(dims))
        {
            throw Interleaved(column, dims, [dims[2], dims[0], dims[1]]);
        }

        return dims;
    }

    /// <summary>Checks that <paramref name="column"/> can feed a network that reads examples shaped
    /// <paramref name="shape"/>: the same number of values, and for images the same layout and channel count.</summary>
    public static void Check(DataViewSchema.Column column, ReadOnlySpan<int> shape)
    {
        var vector = (VectorDataViewType)column.Type;
        int[] dims = [.. vector.Dimensions];
        int size = 1;
        foreach (int d in shape)
        {
            size *= d;
        }

        if (shape.Length == 3 && dims.Length == 3 && !dims.AsSpan().SequenceEqual(shape))
        {
            int c = shape[0], h = shape[1], w = shape[2];
            if (dims[0] == h && dims[1] == w && dims[2] == c)
            {
                throw Interleaved(column, dims, shape.ToArray());
            }

            if (dims[1] == h && dims[2] == w && dims[0] != c)
            {
                string colors = c == 1
                    ? "ConvertToGrayscale then ExtractPixels(..., colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red) for one channel"
                    : c == 3 ? "ExtractPixels(..., colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Rgb) for three channels"
                    : $"ExtractPixels with colorsToExtract giving {c} channels";
                throw new ArgumentException(
                    $"features column '{column.Name}' holds {dims[0]}-channel images {Describe(dims)}, but the network reads {c}-channel images {Describe(shape.ToArray())}: use {colors}.", "input");
            }

            if (LooksInterleaved(dims) && dims[0] * dims[1] * dims[2] == size)
            {
                throw Interleaved(column, dims, shape.ToArray());
            }

            throw new ArgumentException($"features column '{column.Name}' holds images {Describe(dims)}, but the network reads {Describe(shape.ToArray())}: resize them to {h} × {w} (ResizeImages) and extract {c} channel(s) without interleaving.", "input");
        }

        if (vector.Size != size)
        {
            throw new ArgumentException($"features column '{column.Name}' has {vector.Size} values, but the network reads {size} ({Describe(shape.ToArray())}).", "input");
        }
    }

    /// <summary>Three dimensions whose last is a channel count (1, 3 or 4) and whose first is not: height × width ×
    /// channels, what ExtractPixels gives with <c>interleavePixelColors: true</c>.</summary>
    private static bool LooksInterleaved(int[] dims) => dims.Length == 3 && dims[2] is 1 or 3 or 4 && dims[0] is not (1 or 3 or 4);

    private static ArgumentException Interleaved(DataViewSchema.Column column, int[] dims, int[] planar) => new(
        $"features column '{column.Name}' holds images laid out as height × width × channels {Describe(dims)} (ExtractPixels with interleavePixelColors: true), " +
        $"but the network reads channels × height × width {Describe(planar)}: use ExtractPixels(..., interleavePixelColors: false).", "input");

    private static string Describe(int[] dims) => dims.Length switch
    {
        0 => "a vector without dimensions",
        1 => $"a flat vector of {dims[0]} values",
        _ => "[" + string.Join(", ", dims) + "]",
    };
}
