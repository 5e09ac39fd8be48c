using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Data;

/// <summary>Seeded, reproducible splits and shuffles of a <see cref="Dataset"/>.</summary>
public static class DataSplit
{
    /// <summary>
    /// Splits into train and test sets holding each class in the same proportion as the whole (stratified).
    /// For regression there are no classes and the split is a plain seeded shuffle.
    /// </summary>
    /// <remarks>
    /// Per class (in label order) the example indices are shuffled with Fisher–Yates from one
    /// <see cref="Rng"/> seeded with <paramref name="seed"/>; round(testFraction · classSize) of them (halves
    /// rounded up) go to the test set, clamped so that every class with at least two examples keeps one on
    /// each side. A class with a single example stays in the training set. Both sets list their examples in
    /// original order; shuffle for training separately.
    /// </remarks>
    /// <param name="data">The data to split.</param>
    /// <param name="testFraction">The share of each class for the test set, strictly between 0 and 1.</param>
    /// <param name="seed">The seed; the same seed gives the same split.</param>
    /// <exception cref="ArgumentException">The fraction is outside (0, 1) or the data is too small to split.</exception>
    public static (Dataset Train, Dataset Test) StratifiedSplit(Dataset data, double testFraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        var (train, test) = StratifiedIndices(data.Labels, data.ClassCount, data.Count, testFraction, seed, nameof(data));
        return (data.Subset(train), data.Subset(test));
    }

    /// <summary>
    /// <see cref="StratifiedSplit(Dataset, double, int)"/> for streamed examples: the same split (from the labels, which a
    /// source holds in memory), as two views of <paramref name="data"/> that copy no features. Both views read from
    /// <paramref name="data"/>, which must stay open while they are used.
    /// </summary>
    /// <param name="data">The examples to split.</param>
    /// <param name="testFraction">The share of each class for the test set, strictly between 0 and 1.</param>
    /// <param name="seed">The seed; the same seed gives the same split as the in-memory overload.</param>
    public static (ExampleSource Train, ExampleSource Test) StratifiedSplit(ExampleSource data, double testFraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        var (train, test) = StratifiedIndices(data.LabelArray, data.ClassCount, data.Count, testFraction, seed, nameof(data));
        return (new SubsetSource(data, train), new SubsetSource(data, test));
    }

    /// <summary>The indices of a stratified split, each part in ascending order.</summary>
    private static (int[] Train, int[] Test) StratifiedIndices(int[]? labels, int classCount, int count, double testFraction, int seed, string parameter)
    {
        if (!(testFraction > 0 && testFraction < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "the test fraction must lie strictly between 0 and 1.");
        }

        if (count < 2)
        {
            throw new ArgumentException($"cannot split {count} example into a train and a test set.", parameter);
        }

        var rng = new Rng(seed);
        int[][] groups = labels is null ? [Enumerable.Range(0, count).ToArray()] : GroupByLabel(labels, classCount);

        var train = new List<int>(count);
        var test = new List<int>(count);
        foreach (int[] group in groups)
        {
            Shuffle(group, rng);
            int n = group.Length;
            int nTest = n < 2 ? 0 : Math.Clamp((int)Math.Round(testFraction * n, MidpointRounding.AwayFromZero), 1, n - 1);
            test.AddRange(group.AsSpan(0, nTest));
            train.AddRange(group.AsSpan(nTest));
        }

        if (test.Count == 0)
        {
            throw new ArgumentException(
                "no class has two examples, so none can go to the test set without leaving its class untrained.", parameter);
        }

        train.Sort();
        test.Sort();
        return (train.ToArray(), test.ToArray());
    }

    /// <summary>
    /// Stratified k-fold cross-validation: <paramref name="folds"/> (train, validation) pairs whose validation parts
    /// are disjoint, cover every example once and hold each class in about the same proportion as the whole.
    /// </summary>
    /// <remarks>
    /// Per class (in label order) the indices are shuffled with Fisher–Yates from one <see cref="Rng"/> seeded with
    /// <paramref name="seed"/> and the classes are laid end to end; the example at position p of that sequence goes
    /// to fold p mod k. So fold sizes differ by at most one, and so do any class's counts in two folds. For
    /// regression the sequence is one shuffled group. Both parts list their examples in original order.
    /// </remarks>
    /// <param name="data">The data to split.</param>
    /// <param name="folds">The number of folds k, from 2 to the number of examples.</param>
    /// <param name="seed">The seed; the same seed gives the same folds.</param>
    /// <exception cref="ArgumentException">k is below 2 or above the number of examples.</exception>
    public static IReadOnlyList<(Dataset Train, Dataset Validation)> StratifiedKFold(Dataset data, int folds, int seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (folds < 2 || folds > data.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(folds), folds, $"k-fold cross-validation needs between 2 and {data.Count} folds (the number of examples).");
        }

        var rng = new Rng(seed);
        int[][] groups = data.Labels is null ? [Enumerable.Range(0, data.Count).ToArray()] : GroupByLabel(data.Labels, data.ClassCount);
        var foldOf = new int[data.Count];
        int position = 0;
        foreach (int[] group in groups)
        {
            Shuffle(group, rng);
            foreach (int index in group)
            {
                foldOf[index] = position++ % folds;
            }
        }

        var result = new (Dataset, Dataset)[folds];
        for (int f = 0; f < folds; f++)
        {
            var train = new List<int>(data.Count);
            var validation = new List<int>((data.Count / folds) + 1);
            for (int i = 0; i < data.Count; i++)
            {
                (foldOf[i] == f ? validation : train).Add(i);
            }

            result[f] = (data.Subset(train.ToArray()), data.Subset(validation.ToArray()));
        }

        return result;
    }

    /// <summary>The same examples in a seeded random order (a copy; the original is untouched).</summary>
    /// <param name="data">The data to shuffle.</param>
    /// <param name="seed">The seed; the same seed gives the same order.</param>
    public static Dataset Shuffle(Dataset data, int seed)
    {
        ArgumentNullException.ThrowIfNull(data);
        return data.Subset(Permutation(data.Count, seed));
    }

    /// <summary>A seeded random permutation of 0..<paramref name="count"/>-1 (Fisher–Yates).</summary>
    /// <param name="count">How many indices.</param>
    /// <param name="seed">The seed.</param>
    public static int[] Permutation(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int[] indices = Enumerable.Range(0, count).ToArray();
        Shuffle(indices, new Rng(seed));
        return indices;
    }

    /// <summary>Fisher–Yates: for i from the end, swap element i with a uniform pick among 0..i.</summary>
    internal static void Shuffle(Span<int> values, Rng rng)
    {
        for (int i = values.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }

    private static int[][] GroupByLabel(int[] labels, int classCount)
    {
        var lists = new List<int>[classCount];
        for (int k = 0; k < classCount; k++)
        {
            lists[k] = new List<int>();
        }

        for (int i = 0; i < labels.Length; i++)
        {
            lists[labels[i]].Add(i);
        }

        return lists.Select(l => l.ToArray()).ToArray();
    }
}
