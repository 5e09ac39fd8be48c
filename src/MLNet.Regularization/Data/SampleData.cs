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
}
