using MLNet.Regularization.Data;
using SkiaSharp;

namespace MLNet.Regularization.Cli;

/// <summary>
/// Reads image files (PNG, JPEG, BMP, GIF, WebP, through SkiaSharp) as examples of shape [C, H, W] with values in
/// [0, 1], as the IDX reader scales bytes: a folder with one sub-folder per class for labelled data (the sub-folder's
/// name is the class), or the files of a folder for prediction.
/// </summary>
/// <remarks>
/// The channel count is 1 when every image is grayscale and 3 (RGB, alpha dropped) otherwise; the size is that of the
/// images, which must then all agree. <c>--input-shape C,H,W</c> fixes both: every image is converted to C channels
/// and resized to H×W.
/// </remarks>
internal static class ImageFolder
{
    /// <summary>File extensions read as images.</summary>
    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    /// <summary>The largest image accepted, in pixels (a guard against decompression bombs: 8192 × 8192).</summary>
    private const long MaxPixels = 8192L * 8192;

    /// <summary>Reads a labelled folder: one sub-folder per class, named after it.</summary>
    /// <param name="folder">The folder.</param>
    /// <param name="shape">[C, H, W] to convert and resize to, or null for the images' own.</param>
    /// <param name="classNames">A training set's classes, to number a test folder's the same way (it may lack some).</param>
    public static Dataset LoadLabelled(string folder, int[]? shape, IReadOnlyList<string>? classNames)
    {
        var classFolders = Directory.GetDirectories(folder).Order(StringComparer.Ordinal).ToArray();
        if (classFolders.Length == 0)
        {
            throw new InvalidDataException($"image folder '{folder}' has no sub-folders: put the images of each class in a sub-folder named after the class (such as {folder}/cat/1.png).");
        }

        var names = classNames ?? classFolders.Select(Path.GetFileName).ToArray()!;
        if (classNames is null && names.Count < 2)
        {
            throw new InvalidDataException($"image folder '{folder}' has one class sub-folder ('{names[0]}'); a classifier needs at least 2.");
        }

        var files = new List<string>();
        var labels = new List<int>();
        foreach (string classFolder in classFolders)
        {
            string name = Path.GetFileName(classFolder);
            int label = IndexOf(names, name);
            if (label < 0)
            {
                throw new InvalidDataException($"image folder '{folder}' has a sub-folder '{name}' that is not one of the model's classes ({string.Join(", ", names)}).");
            }

            var images = Files(classFolder);
            if (images.Length == 0)
            {
                throw new InvalidDataException($"class folder '{classFolder}' holds no image files ({string.Join(", ", Extensions)}).");
            }

            files.AddRange(images);
            labels.AddRange(Enumerable.Repeat(label, images.Length));
        }

        var (pixels, sampleShape) = Read(files, shape);
        return Dataset.ForClassification(pixels, sampleShape, [.. labels], names.Count, names);
    }

    /// <summary>Reads the image files of a folder (not its sub-folders), in name order, for prediction.</summary>
    /// <param name="folder">The folder.</param>
    /// <param name="shape">[C, H, W] to convert and resize to, or null for the images' own.</param>
    public static (float[] Pixels, int[] SampleShape, string[] Files) LoadUnlabelled(string folder, int[]? shape)
    {
        var files = Files(folder);
        if (files.Length == 0)
        {
            throw new InvalidDataException($"folder '{folder}' holds no image files ({string.Join(", ", Extensions)}).");
        }

        var (pixels, sampleShape) = Read(files, shape);
        return (pixels, sampleShape, files);
    }

    /// <summary>The image files directly in a folder, in ordinal name order.</summary>
    private static string[] Files(string folder) =>
        Directory.GetFiles(folder)
            .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToArray();

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
        {
            if (names[i] == name || SampleData.ImageFolderName(names[i]) == name)
            {
                return i;
            }
        }

        return -1;
    }

    private static (float[] Pixels, int[] Shape) Read(IReadOnlyList<string> files, int[]? shape)
    {
        if (shape is not null && (shape.Length != 3 || shape[0] is not (1 or 3)))
        {
            throw new UsageException($"--input-shape for images must be C,H,W with 1 (grayscale) or 3 (RGB) channels, got {string.Join(",", shape)}.");
        }

        int channels, height, width;
        if (shape is not null)
        {
            (channels, height, width) = (shape[0], shape[1], shape[2]);
        }
        else
        {
            var first = Info(files[0]);
            (height, width) = (first.Height, first.Width);
            channels = files.All(f => Info(f).ColorType == SKColorType.Gray8) ? 1 : 3;
        }

        int plane = height * width, size = channels * plane;
        var limits = ReaderLimits.Default;
        if ((long)files.Count * size > limits.MaxTensorElements || files.Count > limits.MaxSampleCount)
        {
            throw new InvalidDataException($"{files.Count:N0} images of {size:N0} values make {(long)files.Count * size:N0} values, more than the reader limit of {limits.MaxTensorElements:N0}; use fewer or smaller images (--input-shape resizes them).");
        }

        var pixels = new float[(long)files.Count * size];
        var target = new SKImageInfo(width, height, channels == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Unpremul);
        for (int i = 0; i < files.Count; i++)
        {
            using var bitmap = Decode(files[i], target, resize: shape is not null);
            var bytes = bitmap.GetPixelSpan();
            var example = pixels.AsSpan(i * size, size);
            int stride = channels == 1 ? 1 : 4;
            for (int p = 0; p < plane; p++)
            {
                for (int c = 0; c < channels; c++)
                {
                    example[(c * plane) + p] = bytes[(p * stride) + c] / 255f;
                }
            }
        }

        return (pixels, [channels, height, width]);
    }

    private static SKImageInfo Info(string file)
    {
        using var codec = SKCodec.Create(file) ?? throw new InvalidDataException($"'{file}' is not an image SkiaSharp can read (PNG, JPEG, BMP, GIF or WebP).");
        var info = codec.Info;
        if ((long)info.Width * info.Height > MaxPixels)
        {
            throw new InvalidDataException($"'{file}' is {info.Width}×{info.Height} pixels, more than the limit of {MaxPixels:N0}.");
        }

        return info;
    }

    /// <summary>Decodes one file into the target's colour type, resized to its size when asked; without resizing its
    /// size must already match.</summary>
    private static SKBitmap Decode(string file, SKImageInfo target, bool resize)
    {
        var info = Info(file);
        if (!resize && (info.Width != target.Width || info.Height != target.Height))
        {
            throw new InvalidDataException($"'{file}' is {info.Width}×{info.Height} pixels but the first image is {target.Width}×{target.Height}: images must share one size, or give --input-shape C,H,W to resize them all.");
        }

        using var codec = SKCodec.Create(file)!;
        using var decoded = SKBitmap.Decode(codec, new SKImageInfo(info.Width, info.Height, target.ColorType, target.AlphaType))
            ?? throw new InvalidDataException($"'{file}' could not be decoded as an image.");
        if (info.Width == target.Width && info.Height == target.Height)
        {
            return decoded.Copy();
        }

        return decoded.Resize(target, SKFilterQuality.Medium) ?? throw new InvalidDataException($"'{file}' could not be resized to {target.Width}×{target.Height}.");
    }
}
