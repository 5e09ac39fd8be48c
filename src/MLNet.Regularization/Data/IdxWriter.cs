using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNet.Regularization.Data;

/// <summary>
/// Writes unsigned-byte IDX files (the format <see cref="IdxReader"/> reads), raw or gzip-compressed. Useful
/// to cut a subset of MNIST-style data or to save images of one's own in the same layout.
/// </summary>
public static class IdxWriter
{
    /// <summary>Writes an image file: magic 0x00000803, then count, rows and columns, then the pixels.</summary>
    /// <param name="path">The file to create (overwritten if it exists).</param>
    /// <param name="pixels">Count × rows × cols bytes, row-major.</param>
    /// <param name="rows">Image height.</param>
    /// <param name="cols">Image width.</param>
    /// <param name="gzip">Compress with gzip (the usual distribution form).</param>
    public static void WriteImages(string path, ReadOnlySpan<byte> pixels, int rows, int cols, bool gzip = true)
    {
        if (rows <= 0 || cols <= 0)
        {
            throw new ArgumentException($"image size {rows}x{cols} must be positive.", rows <= 0 ? nameof(rows) : nameof(cols));
        }

        long imageSize = (long)rows * cols;
        if (pixels.Length == 0 || pixels.Length % imageSize != 0)
        {
            throw new ArgumentException(
                $"{pixels.Length} pixel bytes is not a positive whole number of {rows}x{cols} images.", nameof(pixels));
        }

        Write(path, IdxReader.ImagesMagic, [(int)(pixels.Length / imageSize), rows, cols], pixels, gzip);
    }

    /// <summary>Writes a label file: magic 0x00000801, then the count, then one byte per label.</summary>
    /// <param name="path">The file to create (overwritten if it exists).</param>
    /// <param name="labels">One byte per example.</param>
    /// <param name="gzip">Compress with gzip (the usual distribution form).</param>
    public static void WriteLabels(string path, ReadOnlySpan<byte> labels, bool gzip = true)
    {
        if (labels.Length == 0)
        {
            throw new ArgumentException("there are no labels to write.", nameof(labels));
        }

        Write(path, IdxReader.LabelsMagic, [labels.Length], labels, gzip);
    }

    private static void Write(string path, int magic, int[] dims, ReadOnlySpan<byte> body, bool gzip)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = File.Create(path);
        using Stream output = gzip ? new GZipStream(file, CompressionLevel.SmallestSize) : file;
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, magic);
        output.Write(word);
        foreach (int d in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(word, d);
            output.Write(word);
        }

        output.Write(body);
    }
}
