using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using MLNet.Regularization.Data;
using Xunit;

namespace MLNet.Regularization.Tests.Data;

public class PngWriterTests
{
    /// <summary>Reads back what the PNG specification says the file must hold: signature, chunks with correct
    /// CRC-32, an 8-bit grayscale IHDR, and IDAT scanlines (filter 0) equal to the pixels.</summary>
    private static (int Width, int Height, byte[] Pixels) Decode(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        int offset = 8, width = 0, height = 0;
        var idat = new MemoryStream();
        var types = new List<string>();
        while (offset < png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(offset));
            string type = Encoding.ASCII.GetString(png, offset + 4, 4);
            var data = png.AsSpan(offset + 8, length);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(offset + 8 + length));
            Assert.Equal(Crc32(png.AsSpan(offset + 4, 4 + length)), crc);
            types.Add(type);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                Assert.Equal(new byte[] { 8, 0, 0, 0, 0 }, data[8..13].ToArray());
            }
            else if (type == "IDAT")
            {
                idat.Write(data);
            }

            offset += 12 + length;
        }

        Assert.Equal(["IHDR", "IDAT", "IEND"], types);
        idat.Position = 0;
        using var zlib = new ZLibStream(idat, CompressionMode.Decompress);
        var raw = new MemoryStream();
        zlib.CopyTo(raw);
        var rows = raw.ToArray();
        Assert.Equal(height * (width + 1), rows.Length);
        var pixels = new byte[width * height];
        for (int y = 0; y < height; y++)
        {
            Assert.Equal(0, rows[y * (width + 1)]);
            Array.Copy(rows, (y * (width + 1)) + 1, pixels, y * width, width);
        }

        return (width, height, pixels);
    }

    /// <summary>CRC-32 computed bit by bit (no table), as an independent check of the writer's table.</summary>
    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
        }

        return ~crc;
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(28, 28)]
    [InlineData(7, 3)]
    public void Pixels_come_back_exactly(int width, int height)
    {
        var pixels = new byte[width * height];
        new Random(width * 31 + height).NextBytes(pixels);
        var (w, h, back) = Decode(PngWriter.EncodeGray(pixels, width, height));
        Assert.Equal((width, height), (w, h));
        Assert.Equal(pixels, back);
    }

    [Fact]
    public void Bad_sizes_are_refused()
    {
        Assert.Contains("at least one pixel", Assert.Throws<ArgumentException>(() => PngWriter.EncodeGray([], 0, 1)).Message);
        Assert.Contains("a 2 × 2 image has 4 pixels, got 3", Assert.Throws<ArgumentException>(() => PngWriter.EncodeGray(new byte[3], 2, 2)).Message);
    }

    [Fact]
    public void An_image_folder_holds_one_sub_folder_per_class_with_the_examples_pixels()
    {
        var (train, _) = SampleData.LoadFashionMnistSmall(asImages: true);
        using var temp = new TempFolder();
        string folder = Path.Combine(temp.Path, "images");
        var files = SampleData.WriteImageFolder(train, folder, limit: 40);

        Assert.Equal(40, files.Count);
        Assert.DoesNotContain(Directory.GetDirectories(temp.Path), d => Path.GetFileName(d).StartsWith('.'));
        for (int i = 0; i < files.Count; i++)
        {
            var (path, label) = files[i];
            Assert.Equal(SampleData.ImageFolderName(train.ClassNames![train.Labels![i]]), label);
            Assert.Equal(label, Path.GetFileName(Path.GetDirectoryName(path)));
            var (w, h, pixels) = Decode(File.ReadAllBytes(path));
            Assert.Equal((28, 28), (w, h));
            var expected = train.Features.Span.Slice(i * 784, 784).ToArray().Select(v => (byte)MathF.Round(v * 255f));
            Assert.Equal(expected, pixels);
        }

        Assert.Contains(files, f => f.Label == "T-shirt-top");
        var e = Assert.Throws<IOException>(() => SampleData.WriteImageFolder(train, folder, limit: 1));
        Assert.Contains("already exists", e.Message);
    }
}
