using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace MLNet.Regularization.Data;

/// <summary>
/// Writes 8-bit grayscale PNG images (PNG specification, ISO/IEC 15948): the signature, an IHDR chunk (width,
/// height, bit depth 8, colour type 0), one IDAT chunk holding the zlib-compressed scanlines (each prefixed with
/// filter type 0) and IEND, every chunk followed by the CRC-32 of its type and data. Enough to hand images to tools
/// that read image files, such as ML.NET's LoadImages, without an imaging library.
/// </summary>
public static class PngWriter
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>Encodes a grayscale image given row by row, one byte per pixel (0 black, 255 white).</summary>
    /// <param name="pixels">height × width bytes, row-major.</param>
    /// <param name="width">Pixels per row (at least 1).</param>
    /// <param name="height">Rows (at least 1).</param>
    /// <returns>The PNG file's bytes.</returns>
    public static byte[] EncodeGray(ReadOnlySpan<byte> pixels, int width, int height)
    {
        if (width < 1 || height < 1)
        {
            throw new ArgumentException($"an image needs at least one pixel, got {width} × {height}.");
        }

        if (pixels.Length != (long)width * height)
        {
            throw new ArgumentException($"a {width} × {height} image has {(long)width * height} pixels, got {pixels.Length}.", nameof(pixels));
        }

        using var file = new MemoryStream();
        file.Write(Signature);

        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8;  // bit depth
        header[9] = 0;  // colour type: grayscale
        header[10] = 0; // compression: deflate
        header[11] = 0; // filter method 0
        header[12] = 0; // no interlace
        WriteChunk(file, "IHDR", header);

        using (var compressed = new MemoryStream())
        {
            using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            {
                for (int y = 0; y < height; y++)
                {
                    zlib.WriteByte(0); // filter type 0: the row as it is
                    zlib.Write(pixels.Slice(y * width, width));
                }
            }

            WriteChunk(file, "IDAT", compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        }

        WriteChunk(file, "IEND", []);
        return file.ToArray();
    }

    /// <summary>Encodes one example of <paramref name="data"/> (shape [28, 28], [1, 28, 28] or any [1, H, W] /
    /// [H, W]) with values in [0, 1], as IdxReader loads images.</summary>
    /// <param name="data">Image data with one channel.</param>
    /// <param name="index">The example.</param>
    public static byte[] EncodeExample(Dataset data, int index)
    {
        ArgumentNullException.ThrowIfNull(data);
        int[] shape = data.SampleShape;
        (int height, int width) = shape switch
        {
            [int h, int w] => (h, w),
            [1, int h, int w] => (h, w),
            [int d] when Math.Sqrt(d) % 1 == 0 => ((int)Math.Sqrt(d), (int)Math.Sqrt(d)),
            _ => throw new ArgumentException($"examples of shape [{string.Join(", ", shape)}] are not one-channel images.", nameof(data)),
        };
        var values = data.Features.Span.Slice(index * height * width, height * width);
        var pixels = new byte[height * width];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)Math.Clamp(MathF.Round(values[i] * 255f), 0f, 255f);
        }

        return EncodeGray(pixels, width, height);
    }

    private static void WriteChunk(Stream file, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        file.Write(word);
        Span<byte> typeBytes = stackalloc byte[4];
        Encoding.ASCII.GetBytes(type, typeBytes);
        file.Write(typeBytes);
        file.Write(data);
        uint crc = Update(Update(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        file.Write(word);
    }

    private static uint Update(uint crc, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    /// <summary>The CRC-32 of PNG (polynomial 0xEDB88320, reflected), one entry per byte value.</summary>
    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
