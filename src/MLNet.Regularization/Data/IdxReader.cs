using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNet.Regularization.Data;

/// <summary>
/// Reads the IDX files of MNIST and Fashion-MNIST (LeCun et al.; Xiao, Rasul &amp; Vollgraf, 2017), raw or
/// gzip-compressed. Compression is recognised by the gzip magic bytes 1F 8B, never by the file name.
/// </summary>
/// <remarks>
/// An IDX file is a 4-byte magic number — two zero bytes, a data-type byte (0x08 = unsigned byte, the only
/// type these datasets use) and the number of dimensions — then one big-endian int32 per dimension, then the
/// values in row-major order. Images are <c>0x00000803</c> (count, rows, columns), labels <c>0x00000801</c>
/// (count). Every problem is reported as an <see cref="InvalidDataException"/> that names the file, what is
/// wrong and where (byte offsets count the uncompressed stream).
/// </remarks>
public static class IdxReader
{
    /// <summary>The magic number of an IDX file of unsigned-byte images: type 0x08, 3 dimensions.</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>The magic number of an IDX file of unsigned-byte labels: type 0x08, 1 dimension.</summary>
    public const int LabelsMagic = 0x00000801;

    /// <summary>Reads an image file; pixels are scaled from 0..255 to [0, 1] by dividing by 255.</summary>
    /// <param name="path">An IDX3 unsigned-byte file, raw or gzip.</param>
    /// <param name="limit">Read only the first <paramref name="limit"/> images (all when null or larger than the file).</param>
    /// <param name="limits">Caps on sizes, checked before allocating (<see cref="ReaderLimits.Default"/> when null).</param>
    /// <returns>Row-major pixels (Count × Rows × Cols) and the sizes.</returns>
    /// <exception cref="InvalidDataException">The file is not a well-formed IDX image file, or exceeds a limit.</exception>
    public static (float[] Pixels, int Count, int Rows, int Cols) ReadImages(string path, int? limit = null, ReaderLimits? limits = null)
    {
        CheckLimit(limit);
        using var file = IdxFile.Open(path, ImagesMagic, "image", limits);
        int count = file.ItemsToRead(limit);
        byte[] bytes = file.ReadBody(count);
        return (ToUnitFloats(bytes), count, file.Dimensions[1], file.Dimensions[2]);
    }

    /// <summary>Reads a label file.</summary>
    /// <param name="path">An IDX1 unsigned-byte file, raw or gzip.</param>
    /// <param name="limit">Read only the first <paramref name="limit"/> labels (all when null or larger than the file).</param>
    /// <param name="limits">Caps on sizes, checked before allocating (<see cref="ReaderLimits.Default"/> when null).</param>
    /// <returns>One label per example, as stored (0..255).</returns>
    /// <exception cref="InvalidDataException">The file is not a well-formed IDX label file, or exceeds a limit.</exception>
    public static int[] ReadLabels(string path, int? limit = null, ReaderLimits? limits = null)
    {
        CheckLimit(limit);
        using var file = IdxFile.Open(path, LabelsMagic, "label", limits);
        return ToInts(file.ReadBody(file.ItemsToRead(limit)));
    }

    /// <summary>
    /// Reads an image file and its label file into a multiclass <see cref="Dataset"/>, after checking that both
    /// headers announce the same number of examples.
    /// </summary>
    /// <param name="imagesPath">The IDX3 image file.</param>
    /// <param name="labelsPath">The IDX1 label file.</param>
    /// <param name="asImages">Sample shape [1, rows, cols] for convolutional networks; otherwise [rows·cols].</param>
    /// <param name="limit">Read only the first <paramref name="limit"/> examples.</param>
    /// <param name="classCount">
    /// The number of classes. When null it is max(label)+1 (at least 2). Pass it explicitly (10 for MNIST) when a
    /// train and a test set must agree although a small subset may miss the highest class.
    /// </param>
    /// <param name="classNames">Optional class names, one per class.</param>
    /// <param name="limits">Caps on sizes, checked before allocating (<see cref="ReaderLimits.Default"/> when null).</param>
    /// <exception cref="InvalidDataException">A file is malformed or exceeds a limit, the counts differ, or a label is not below <paramref name="classCount"/>.</exception>
    public static Dataset LoadDataset(
        string imagesPath,
        string labelsPath,
        bool asImages = false,
        int? limit = null,
        int? classCount = null,
        IReadOnlyList<string>? classNames = null,
        ReaderLimits? limits = null)
    {
        CheckLimit(limit);
        var (images, labels, k) = OpenLabelled(imagesPath, labelsPath, classCount, limit, limits, streamed: false);
        using (images)
        {
            int rows = images.Dimensions[1], cols = images.Dimensions[2];
            int[] shape = asImages ? [1, rows, cols] : [rows * cols];
            return MemoryNeeded.Guard(
                () => Dataset.ForClassification(ToUnitFloats(images.ReadBody(labels.Length)), shape, labels, k, classNames),
                $"'{imagesPath}'",
                () => MemoryNeeded.AsFloats(labels.Length, images.ItemSize),
                "IdxSource.Open and Trainer.Fit with the source (in the CLI: train --stream)");
        }
    }

    /// <summary>Opens an image file and reads and checks its label file: both headers announce the same number of
    /// examples and every label is below the class count. The image body is left for the caller to read.</summary>
    /// <param name="imagesPath">The IDX3 image file.</param>
    /// <param name="labelsPath">The IDX1 label file.</param>
    /// <param name="classCount">The class count, or null for max(label)+1 (at least 2).</param>
    /// <param name="limit">Only the first examples, or all when null.</param>
    /// <param name="limits">Caps on sizes (default when null).</param>
    /// <param name="streamed">True when the images are read a batch at a time: then the image file's size and element
    /// count are not bounded by <see cref="ReaderLimits.MaxFileBytes"/> and <see cref="ReaderLimits.MaxTensorElements"/>
    /// (one image is), since no array holds them all.</param>
    internal static (IdxFile Images, int[] Labels, int ClassCount) OpenLabelled(string imagesPath, string labelsPath, int? classCount, int? limit, ReaderLimits? limits, bool streamed)
    {
        limits ??= ReaderLimits.Default;
        if (classCount is < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(classCount), classCount, "a classification dataset needs at least 2 classes.");
        }

        if (classCount is int given)
        {
            ReaderLimits.Check(given, limits.MaxClassCount, $"'{labelsPath}'", $"a class count of {given:N0}", nameof(ReaderLimits.MaxClassCount));
        }

        var images = IdxFile.Open(imagesPath, ImagesMagic, "image", limits, streamed);
        try
        {
            using var labelFile = IdxFile.Open(labelsPath, LabelsMagic, "label", limits);
            if (images.Dimensions[0] != labelFile.Dimensions[0])
            {
                throw new InvalidDataException(
                    $"image/label count mismatch: '{imagesPath}' holds {images.Dimensions[0]} images but '{labelsPath}' holds {labelFile.Dimensions[0]} labels.");
            }

            int count = images.ItemsToRead(limit);
            int[] labels = ToInts(labelFile.ReadBody(count));
            int k = classCount ?? Math.Max(2, labels.Max() + 1);
            for (int i = 0; i < labels.Length; i++)
            {
                if (labels[i] >= k)
                {
                    throw new InvalidDataException(
                        $"'{labelsPath}': label {labels[i]} of example {i} (byte offset {labelFile.BodyOffset + i}) is outside 0..{k - 1}.");
                }
            }

            return (images, labels, k);
        }
        catch
        {
            images.Dispose();
            throw;
        }
    }

    private static void CheckLimit(int? limit)
    {
        if (limit is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit must be positive (or null for all examples).");
        }
    }

    private static float[] ToUnitFloats(byte[] bytes)
    {
        var result = new float[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            result[i] = bytes[i] / 255f;
        }

        return result;
    }

    private static int[] ToInts(byte[] bytes)
    {
        var result = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            result[i] = bytes[i];
        }

        return result;
    }

    /// <summary>An open IDX file whose header has been read and checked; the body is read on demand.</summary>
    internal sealed class IdxFile : IDisposable
    {
        private readonly Stream _stream;
        private readonly string _path;
        private readonly string _what;
        private readonly bool _gzip;
        private readonly ReaderLimits _limits;
        private readonly bool _streamed;

        private IdxFile(Stream stream, string path, string what, bool gzip, ReaderLimits limits, bool streamed)
        {
            _stream = stream;
            _path = path;
            _what = what;
            _gzip = gzip;
            _limits = limits;
            _streamed = streamed;
        }

        /// <summary>True when the file is gzip-compressed (then it can only be read in order).</summary>
        public bool IsGzip => _gzip;

        /// <summary>The sizes from the header; the first is the number of items.</summary>
        public int[] Dimensions { get; private set; } = [];

        /// <summary>Where the body starts in the uncompressed stream.</summary>
        public int BodyOffset => 4 + (4 * Dimensions.Length);

        /// <summary>Bytes per item (rows·cols for images, 1 for labels); bounded by the header check.</summary>
        public long ItemSize => ProductAfterFirst(Dimensions);

        private string Decompressed => _gzip ? " (after gzip decompression)" : string.Empty;

        public static IdxFile Open(string path, int expectedMagic, string what, ReaderLimits? limits, bool streamed = false)
        {
            ArgumentException.ThrowIfNullOrEmpty(path);
            limits ??= ReaderLimits.Default;
            limits.Validate();
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"IDX {what} file '{path}' does not exist.", path);
            }

            Stream stream = File.OpenRead(path);
            try
            {
                if (!streamed)
                {
                    ReaderLimits.Check(stream.Length, limits.MaxFileBytes, $"'{path}'", $"the file size of {stream.Length:N0} bytes", nameof(ReaderLimits.MaxFileBytes));
                }

                Span<byte> two = stackalloc byte[2];
                int n = stream.ReadAtLeast(two, 2, throwOnEndOfStream: false);
                stream.Position = 0;
                bool gzip = n == 2 && two[0] == 0x1F && two[1] == 0x8B;
                if (gzip)
                {
                    stream = new GZipStream(stream, CompressionMode.Decompress);
                }

                var file = new IdxFile(stream, path, what, gzip, limits, streamed);
                file.Dimensions = file.ReadHeader(expectedMagic);
                return file;
            }
            catch
            {
                stream.Dispose();
                throw;
            }
        }

        /// <summary>How many items to read: all, or the first <paramref name="limit"/>.</summary>
        public int ItemsToRead(int? limit) => limit is int l && l < Dimensions[0] ? l : Dimensions[0];

        /// <summary>Reads the first <paramref name="items"/> items of the body; when that is all of them, also
        /// checks that nothing follows.</summary>
        public byte[] ReadBody(int items)
        {
            long needed = (long)items * ItemSize;
            if (needed > Array.MaxLength)
            {
                throw new InvalidDataException(
                    $"'{_path}': {items} {_what}s of {ItemSize} bytes need {needed} bytes, more than one array can hold; read fewer with a limit.");
            }

            var body = ReadGrowing((int)needed, out int found);
            if (found < needed)
            {
                throw Truncated(items, found);
            }

            if (items == Dimensions[0] && Fill(new byte[1], BodyOffset + found) != 0)
            {
                throw ExtraData();
            }

            return body;
        }

        /// <summary>Checks that a raw (uncompressed) file holds exactly the body its header promises, from its length
        /// alone (a streamed file is not read whole to find out).</summary>
        public void CheckRawLength()
        {
            long promised = Dimensions[0] * ItemSize;
            long found = _stream.Length - BodyOffset;
            if (found < promised)
            {
                throw Truncated(Dimensions[0], found);
            }

            if (found > promised)
            {
                throw ExtraData();
            }
        }

        /// <summary>The error for a body that ends after <paramref name="found"/> of the bytes <paramref name="items"/> need.</summary>
        public InvalidDataException Truncated(int items, long found)
        {
            long needed = items * ItemSize, promised = Dimensions[0] * ItemSize;
            string scope = items == Dimensions[0]
                ? $"the header promises {Dimensions[0]} {_what}s{ShapeText()} = {promised} bytes after the {BodyOffset}-byte header"
                : $"the first {items} of the {Dimensions[0]} {_what}s{ShapeText()} need {needed} bytes after the {BodyOffset}-byte header";
            return new InvalidDataException(
                $"'{_path}' is truncated: {scope}, but only {found} bytes were found{Decompressed} (the data ends at byte offset {BodyOffset + found}).");
        }

        /// <summary>The error for bytes after the promised body.</summary>
        public InvalidDataException ExtraData()
        {
            long promised = Dimensions[0] * ItemSize;
            return new InvalidDataException(
                $"'{_path}' has extra data after byte offset {BodyOffset + promised}{Decompressed}: the header promises exactly {promised} bytes of {_what} data; is the header wrong?");
        }

        public void Dispose() => _stream.Dispose();

        /// <summary>Reads up to <paramref name="needed"/> bytes into a buffer that grows (doubling) only as bytes arrive,
        /// so a header that promises more than the file holds costs what the file holds: the first buffer is what a raw
        /// file has left (gzip: 64 KiB), and all the buffers together are less than four times the bytes read.</summary>
        private byte[] ReadGrowing(int needed, out int found)
        {
            long left = _gzip ? 64 * 1024 : Math.Max(1, _stream.Length - _stream.Position);
            var buffer = new byte[Math.Min(needed, left)];
            found = 0;
            while (true)
            {
                int read = Fill(buffer.AsSpan(found), BodyOffset + found);
                found += read;
                if (found < buffer.Length || found == needed)
                {
                    return buffer; // the stream ended, or everything is here
                }

                Array.Resize(ref buffer, (int)Math.Min(needed, 2L * buffer.Length));
            }
        }

        private string ShapeText() => Dimensions.Length == 1 ? string.Empty : " of " + string.Join("x", Dimensions[1..]);

        private int[] ReadHeader(int expectedMagic)
        {
            string kind = expectedMagic == ImagesMagic ? "an IDX image file (magic 0x00000803)" : "an IDX label file (magic 0x00000801)";
            Span<byte> magic = stackalloc byte[4];
            int got = Fill(magic, 0);
            if (got < 4)
            {
                throw new InvalidDataException(
                    $"'{_path}' is {got} bytes long{Decompressed}, shorter than the 4-byte magic number of {kind}.");
            }

            int value = BinaryPrimitives.ReadInt32BigEndian(magic);
            int expectedDims = expectedMagic & 0xFF;
            if (magic[0] != 0 || magic[1] != 0)
            {
                throw new InvalidDataException(
                    $"'{_path}' has bad magic number 0x{value:X8} at byte offset 0{Decompressed}: expected 0x{expectedMagic:X8} for {kind}; this does not look like an IDX file.");
            }

            if (magic[2] != 0x08)
            {
                throw new InvalidDataException(
                    $"'{_path}' has bad magic number 0x{value:X8}: data type 0x{magic[2]:X2} ({TypeName(magic[2])}) at byte offset 2 is not supported; only 0x08 (unsigned byte) is, as in MNIST and Fashion-MNIST.");
            }

            if (magic[3] != expectedDims)
            {
                string hint = magic[3] switch
                {
                    1 => " (an IDX label file?)",
                    3 => " (an IDX image file?)",
                    _ => string.Empty,
                };
                throw new InvalidDataException(
                    $"'{_path}' has bad magic number 0x{value:X8}: {magic[3]} dimensions at byte offset 3{hint}, expected {expectedDims} for {kind}.");
            }

            int headerLength = 4 + (4 * expectedDims);
            Span<byte> sizes = stackalloc byte[4 * expectedDims];
            got = Fill(sizes, 4);
            if (got < sizes.Length)
            {
                throw new InvalidDataException(
                    $"'{_path}' is {4 + got} bytes long{Decompressed}, shorter than the {headerLength}-byte header of {kind}.");
            }

            var dims = new int[expectedDims];
            for (int d = 0; d < expectedDims; d++)
            {
                dims[d] = BinaryPrimitives.ReadInt32BigEndian(sizes.Slice(4 * d, 4));
                if (dims[d] <= 0)
                {
                    throw new InvalidDataException(
                        $"'{_path}': dimension {d} in the header (byte offset {4 + (4 * d)}) is {dims[d]}; every size must be positive.");
                }
            }

            if (ProductAfterFirst(dims) > Array.MaxLength)
            {
                throw new InvalidDataException(
                    $"'{_path}': one {_what} of {string.Join("x", dims[1..])} values is larger than any array can hold; the header is probably corrupt.");
            }

            string where = $"'{_path}': the header (byte offset 4)";
            ReaderLimits.Check(dims[0], _limits.MaxSampleCount, where, $"{dims[0]:N0} {_what}s", nameof(ReaderLimits.MaxSampleCount));
            // Read whole, the file becomes one array; streamed, one item at a time is (the rest stays on disk).
            long values = _streamed ? ProductAfterFirst(dims) : dims[0] * ProductAfterFirst(dims); // both factors are below 2^31: no overflow
            string what = _streamed ? $"one {_what} of {string.Join("x", dims[1..])} = {values:N0} values" : $"{dims[0]:N0} {_what}s{(dims.Length > 1 ? " of " + string.Join("x", dims[1..]) : "")} = {values:N0} values";
            ReaderLimits.Check(values, _limits.MaxTensorElements, where, what, nameof(ReaderLimits.MaxTensorElements));
            return dims;
        }

        private static long ProductAfterFirst(int[] dims)
        {
            long size = 1;
            for (int i = 1; i < dims.Length; i++)
            {
                size *= dims[i];
            }

            return size;
        }

        /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the bytes read.
        /// Corrupt gzip data becomes an error that names the file.</summary>
        public int Fill(Span<byte> buffer, long offset)
        {
            try
            {
                return _stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException(
                    $"'{_path}' is not valid gzip data (while reading uncompressed byte offset {offset}): {e.Message}", e);
            }
        }

        private static string TypeName(byte type) => type switch
        {
            0x09 => "signed byte",
            0x0B => "int16",
            0x0C => "int32",
            0x0D => "float32",
            0x0E => "float64",
            _ => "unknown type",
        };
    }
}
