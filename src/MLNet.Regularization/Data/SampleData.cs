namespace MLNet.Regularization.Data;

/// <summary>
/// The Fashion-MNIST data the repository ships (<c>data/fashion-mnist-small</c>: the first 5,000 training and
/// 1,000 test examples) and a loader for the full set wherever the user keeps it.
/// </summary>
public static class SampleData
{
    /// <summary>The repository folder of the committed subset, relative to the repository root.</summary>
    public const string FashionMnistSmallFolder = "data/fashion-mnist-small";

    /// <summary>Where the Debian package <c>dataset-fashion-mnist</c> installs the full set.</summary>
    public const string DebianFashionMnistFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>File names of the four Fashion-MNIST (and MNIST) IDX files.</summary>
    private const string TrainImages = "train-images-idx3-ubyte.gz";
    private const string TrainLabels = "train-labels-idx1-ubyte.gz";
    private const string TestImages = "t10k-images-idx3-ubyte.gz";
    private const string TestLabels = "t10k-labels-idx1-ubyte.gz";

    /// <summary>The ten Fashion-MNIST classes, indexed by label.</summary>
    public static IReadOnlyList<string> FashionMnistClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>
    /// Finds <c>data/fashion-mnist-small</c> by walking up from the application's base directory (so tests and
    /// samples find it from their <c>bin/</c> folder) and then from the current directory.
    /// </summary>
    /// <returns>The full path of the folder.</returns>
    /// <exception cref="DirectoryNotFoundException">Neither walk reaches a folder holding the subset.</exception>
    public static string FindFashionMnistSmall()
    {
        var starts = new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() };
        foreach (string start in starts)
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "data", "fashion-mnist-small");
                if (File.Exists(Path.Combine(candidate, TrainImages)))
                {
                    return candidate;
                }
            }
        }

        throw new DirectoryNotFoundException(
            $"could not find '{FashionMnistSmallFolder}' (with {TrainImages}) in '{starts[0]}', '{starts[1]}' or any folder above them. "
            + "It ships with the MLNet.Regularization repository; outside it, load the full set with "
            + $"SampleData.LoadFashionMnist(folder), for example from {DebianFashionMnistFolder}.");
    }

    /// <summary>Loads the committed subset: 5,000 training and 1,000 test examples, 10 classes with names.</summary>
    /// <param name="asImages">Sample shape [1, 28, 28] instead of [784].</param>
    public static (Dataset Train, Dataset Test) LoadFashionMnistSmall(bool asImages = false) =>
        LoadFashionMnist(FindFashionMnistSmall(), asImages);

    /// <summary>The committed subset as row sequences: each image is read row by row, 28 steps of 28 pixels (sample
    /// shape [28, 28]), the classic sequence task for recurrent networks.</summary>
    public static (Dataset Train, Dataset Test) LoadFashionMnistSmallRows()
    {
        var (train, test) = LoadFashionMnistSmall();
        return (train.Reshape(28, 28), test.Reshape(28, 28));
    }

    /// <summary>Loads the four standard IDX files (<c>train-images-idx3-ubyte.gz</c>, ...) from a folder, such as
    /// the full Fashion-MNIST set at <see cref="DebianFashionMnistFolder"/>.</summary>
    /// <param name="folder">The folder holding the four files.</param>
    /// <param name="asImages">Sample shape [1, 28, 28] instead of [784].</param>
    /// <param name="trainLimit">Read only the first N training examples.</param>
    /// <param name="testLimit">Read only the first N test examples.</param>
    public static (Dataset Train, Dataset Test) LoadFashionMnist(string folder, bool asImages = false, int? trainLimit = null, int? testLimit = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Fashion-MNIST folder '{folder}' does not exist.");
        }

        var train = IdxReader.LoadDataset(
            Path.Combine(folder, TrainImages), Path.Combine(folder, TrainLabels), asImages, trainLimit, 10, FashionMnistClassNames);
        var test = IdxReader.LoadDataset(
            Path.Combine(folder, TestImages), Path.Combine(folder, TestLabels), asImages, testLimit, 10, FashionMnistClassNames);
        return (train, test);
    }

    /// <summary>
    /// Writes the images of <paramref name="data"/> as PNG files into <paramref name="folder"/>, one sub-folder per
    /// class (<c>Trouser/00017.png</c>; characters a file name cannot hold, such as the '/' of "T-shirt/top", become
    /// '-'), the layout image tools and ML.NET samples read with the folder name as the label. The files are written
    /// into a temporary folder beside the target that is then renamed, so the folder appears complete or not at all.
    /// </summary>
    /// <param name="data">One-channel images with values in [0, 1] (<see cref="PngWriter.EncodeExample"/>) and class labels.</param>
    /// <param name="folder">The folder to create; it must not exist yet.</param>
    /// <param name="limit">Write only the first N examples.</param>
    /// <returns>Each file written with its class name, in example order.</returns>
    public static IReadOnlyList<(string Path, string Label)> WriteImageFolder(Dataset data, string folder, int? limit = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (data.Labels is null)
        {
            throw new ArgumentException("the dataset has no class labels to name the sub-folders.", nameof(data));
        }

        string target = Path.GetFullPath(folder);
        if (Directory.Exists(target))
        {
            throw new IOException($"image folder '{target}' already exists; delete it to write it again.");
        }

        string parent = Path.GetDirectoryName(target) ?? ".";
        Directory.CreateDirectory(parent);
        string temporary = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        int count = Math.Min(limit ?? data.Count, data.Count);
        var written = new List<(string, string)>(count);
        try
        {
            for (int i = 0; i < count; i++)
            {
                int label = data.Labels[i];
                string className = ImageFolderName(data.ClassNames is { } names ? names[label] : label.ToString(System.Globalization.CultureInfo.InvariantCulture));
                string classFolder = Path.Combine(temporary, className);
                Directory.CreateDirectory(classFolder);
                string file = $"{i:00000}.png";
                File.WriteAllBytes(Path.Combine(classFolder, file), PngWriter.EncodeExample(data, i));
                written.Add((Path.Combine(target, className, file), className));
            }

            Directory.Move(temporary, target);
        }
        finally
        {
            if (Directory.Exists(temporary))
            {
                Directory.Delete(temporary, recursive: true);
            }
        }

        return written;
    }

    /// <summary>A class name as a folder name: characters invalid in file names (and '/', '\', ':') become '-'.</summary>
    /// <param name="className">The class name.</param>
    public static string ImageFolderName(string className)
    {
        ArgumentNullException.ThrowIfNull(className);
        var invalid = Path.GetInvalidFileNameChars().Concat(['/', '\\', ':', '*', '?', '"', '<', '>', '|']).ToHashSet();
        return new string([.. className.Select(c => invalid.Contains(c) ? '-' : c)]);
    }
}

