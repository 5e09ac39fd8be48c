using System.Buffers.Binary;
using System.IO.Compression;
using MLNet.Regularization.Data;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Data;

public sealed class IdxReaderTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WriteThenRead_RoundTripsPixelsAndLabels(bool gzip)
    {
        var (pixels, labels) = RandomImages(count: 7, rows: 3, cols: 5, seed: 1);
        // Names say the opposite of the content: compression must be detected from the bytes.
        string images = _dir.File(gzip ? "images.bin" : "images.gz");
        string labelsPath = _dir.File(gzip ? "labels.bin" : "labels.gz");
        IdxWriter.WriteImages(images, pixels, rows: 3, cols: 5, gzip);
        IdxWriter.WriteLabels(labelsPath, labels, gzip);

        byte[] head = File.ReadAllBytes(images)[..4];
        Assert.Equal(gzip ? new byte[] { 0x1F, 0x8B } : new byte[] { 0, 0, 8, 3 }, gzip ? head[..2] : head);

        var (read, count, rows, cols) = IdxReader.ReadImages(images);
        Assert.Equal((7, 3, 5), (count, rows, cols));
        Assert.Equal(pixels.Select(p => p / 255f), read);
        Assert.Equal(labels.Select(l => (int)l), IdxReader.ReadLabels(labelsPath));
    }

    [Fact]
    public void RawFile_HasTheDocumentedLayout()
    {
        string path = _dir.File("raw");
        IdxWriter.WriteImages(path, new byte[] { 0, 255, 128, 1, 2, 3 }, rows: 1, cols: 3, gzip: false);
        Assert.Equal(
            new byte[] { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 255, 128, 1, 2, 3 },
            File.ReadAllBytes(path));
        var (pixels, _, _, _) = IdxReader.ReadImages(path);
        Assert.Equal(0f, pixels[0]);
        Assert.Equal(1f, pixels[1]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LoadDataset_FlatOrImageShape_AndLimit(bool asImages)
    {
        var (pixels, labels) = RandomImages(count: 6, rows: 2, cols: 3, seed: 2);
        labels[0] = 4; // max label 4 -> 5 classes
        var (images, labelFile) = WritePair(pixels, labels, rows: 2, cols: 3);

        var all = IdxReader.LoadDataset(images, labelFile, asImages);
        Assert.Equal(6, all.Count);
        Assert.Equal(asImages ? [1, 2, 3] : new[] { 6 }, all.SampleShape);
        Assert.Equal(5, all.ClassCount);
        Assert.Equal(TaskKind.Multiclass, all.Task);

        var first = IdxReader.LoadDataset(images, labelFile, asImages, limit: 4, classCount: 10);
        Assert.Equal(4, first.Count);
        Assert.Equal(10, first.ClassCount);
        Assert.Equal(labels.Take(4).Select(l => (int)l), first.Labels!);
        Assert.Equal(pixels.Take(4 * 6).Select(p => p / 255f), first.Features.Data);

        Assert.Equal(6, IdxReader.LoadDataset(images, labelFile, limit: 100).Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => IdxReader.LoadDataset(images, labelFile, limit: 0));
    }

    [Fact]
    public void BadMagic_IsNamed()
    {
        byte[] bytes = ImageFileBytes(count: 2, rows: 2, cols: 2, bodyLength: 8);
        BinaryPrimitives.WriteInt32BigEndian(bytes, 0x12345678);
        string path = _dir.WriteBytes("bad-magic.idx", bytes);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.Contains("bad-magic.idx", e.Message);
        Assert.Contains("magic number 0x12345678", e.Message);
        Assert.Contains("0x00000803", e.Message);
        Assert.Contains("byte offset 0", e.Message);
    }

    [Fact]
    public void UnsupportedDataType_IsNamed()
    {
        byte[] bytes = ImageFileBytes(count: 2, rows: 2, cols: 2, bodyLength: 8);
        bytes[2] = 0x0D;
        string path = _dir.WriteBytes("floats.idx", bytes);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.Contains("data type 0x0D", e.Message);
        Assert.Contains("float32", e.Message);
    }

    [Fact]
    public void LabelFileReadAsImages_SaysSo()
    {
        string labels = _dir.File("labels");
        IdxWriter.WriteLabels(labels, new byte[] { 1, 2, 3 }, gzip: true);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(labels));
        Assert.Contains("1 dimensions", e.Message);
        Assert.Contains("label file?", e.Message);
        Assert.Contains("0x00000801", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TruncatedBody_SaysExpectedAndFound(bool gzip)
    {
        byte[] bytes = ImageFileBytes(count: 10, rows: 2, cols: 2, bodyLength: 30);
        string path = _dir.WriteBytes("short.idx", gzip ? Gzip(bytes) : bytes);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.Contains("short.idx", e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.Contains("10 images of 2x2 = 40 bytes", e.Message);
        Assert.Contains("only 30 bytes were found", e.Message);
        Assert.Contains("byte offset 46", e.Message);

        // The first 7 images are all there, so a limit that stays inside the data succeeds.
        Assert.Equal(7, IdxReader.ReadImages(path, limit: 7).Count);
        var partial = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path, limit: 8));
        Assert.Contains("the first 8 of the 10 images", partial.Message);
    }

    [Theory]
    [InlineData(10, "shorter than the 16-byte header")]
    [InlineData(2, "2 bytes long")]
    [InlineData(0, "shorter than the 4-byte magic number")]
    public void FileShorterThanHeader_IsNamed(int length, string expected)
    {
        byte[] bytes = ImageFileBytes(count: 1, rows: 2, cols: 2, bodyLength: 4)[..length];
        string path = _dir.WriteBytes("stub.idx", bytes);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.Contains("stub.idx", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ExtraBytesAfterBody_AreReported()
    {
        byte[] bytes = ImageFileBytes(count: 1, rows: 2, cols: 2, bodyLength: 5);
        string path = _dir.WriteBytes("long.idx", bytes);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.Contains("extra data after byte offset 20", e.Message);
    }

    [Fact]
    public void NonPositiveDimension_IsNamed()
    {
        byte[] bytes = ImageFileBytes(count: 1, rows: 2, cols: 2, bodyLength: 4);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), -28);
        string path = _dir.WriteBytes("negative.idx", bytes);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));
        Assert.Contains("dimension 1", e.Message);
        Assert.Contains("-28", e.Message);
        Assert.Contains("positive", e.Message);
    }

    [Fact]
    public void CorruptGzip_NamesTheFile()
    {
        string path = _dir.WriteBytes("corrupt.gz", [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(path));
        Assert.Contains("corrupt.gz", e.Message);
    }

    [Fact]
    public void ImageAndLabelCountMismatch_IsNamed()
    {
        var (pixels, labels) = RandomImages(count: 5, rows: 2, cols: 2, seed: 3);
        string images = _dir.File("five-images");
        string fourLabels = _dir.File("four-labels");
        IdxWriter.WriteImages(images, pixels, 2, 2);
        IdxWriter.WriteLabels(fourLabels, labels.AsSpan(0, 4));

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.LoadDataset(images, fourLabels));
        Assert.Contains("mismatch", e.Message);
        Assert.Contains("5 images", e.Message);
        Assert.Contains("4 labels", e.Message);
        Assert.Contains("four-labels", e.Message);
    }

    [Fact]
    public void LabelAboveClassCount_NamesExampleAndOffset()
    {
        var (pixels, labels) = RandomImages(count: 4, rows: 1, cols: 2, seed: 4);
        labels[2] = 12;
        var (images, labelFile) = WritePair(pixels, labels, rows: 1, cols: 2);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.LoadDataset(images, labelFile, classCount: 10));
        Assert.Contains("label 12 of example 2", e.Message);
        Assert.Contains("byte offset 10", e.Message);
        Assert.Contains("0..9", e.Message);
    }

    [Fact]
    public void MissingFile_IsFileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => IdxReader.ReadLabels(_dir.File("nope")));
    }

    private (string Images, string Labels) WritePair(byte[] pixels, byte[] labels, int rows, int cols)
    {
        string images = _dir.File("images-" + Guid.NewGuid().ToString("N"));
        string labelFile = _dir.File("labels-" + Guid.NewGuid().ToString("N"));
        IdxWriter.WriteImages(images, pixels, rows, cols);
        IdxWriter.WriteLabels(labelFile, labels);
        return (images, labelFile);
    }

    private static (byte[] Pixels, byte[] Labels) RandomImages(int count, int rows, int cols, int seed)
    {
        var rng = new Rng(seed);
        var pixels = new byte[count * rows * cols];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)rng.NextInt(256);
        }

        var labels = new byte[count];
        for (int i = 0; i < count; i++)
        {
            labels[i] = (byte)rng.NextInt(3);
        }

        labels[^1] = 2; // at least two classes
        labels[^2] = 0;
        return (pixels, labels);
    }

    /// <summary>An uncompressed image file whose header says count×rows×cols but whose body has
    /// <paramref name="bodyLength"/> bytes.</summary>
    private static byte[] ImageFileBytes(int count, int rows, int cols, int bodyLength)
    {
        var bytes = new byte[16 + bodyLength];
        BinaryPrimitives.WriteInt32BigEndian(bytes, IdxReader.ImagesMagic);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12), cols);
        for (int i = 16; i < bytes.Length; i++)
        {
            bytes[i] = (byte)i;
        }

        return bytes;
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var memory = new MemoryStream();
        using (var gz = new GZipStream(memory, CompressionLevel.Fastest))
        {
            gz.Write(bytes);
        }

        return memory.ToArray();
    }
}
