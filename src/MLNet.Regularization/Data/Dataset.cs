using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Data;

/// <summary>The learning task a dataset is labelled for; it picks the loss and the output layer's meaning.</summary>
public enum TaskKind
{
    /// <summary>One of K classes; softmax + cross-entropy.</summary>
    Multiclass,

    /// <summary>Two classes with one output logit; sigmoid + binary cross-entropy.</summary>
    Binary,

    /// <summary>Real-valued targets; mean squared error.</summary>
    Regression,
}

/// <summary>
/// Features of shape [N, ...] (for example [N, 784] or [N, 1, 28, 28]) with one label per example
/// (class index) or a row of real targets. Validated once at construction: no NaN or infinity, labels in
/// range, counts that agree, so that training never meets a bad value deep inside a kernel.
/// </summary>
public sealed class Dataset
{
    private Dataset(Tensor features, int[]? labels, float[]? targets, int classCount, int targetSize, TaskKind task, IReadOnlyList<string>? classNames)
    {
        Features = features;
        Labels = labels;
        Targets = targets;
        ClassCount = classCount;
        TargetSize = targetSize;
        Task = task;
        ClassNames = classNames;
    }

    /// <summary>The features, batch dimension first.</summary>
    public Tensor Features { get; }

    /// <summary>Class indices 0..ClassCount-1 (classification), otherwise null.</summary>
    public int[]? Labels { get; }

    /// <summary>Targets, TargetSize per example (regression), otherwise null.</summary>
    public float[]? Targets { get; }

    /// <summary>The number of classes (2 for binary, 0 for regression).</summary>
    public int ClassCount { get; }

    /// <summary>The number of regression targets per example (0 for classification).</summary>
    public int TargetSize { get; }

    /// <summary>The task.</summary>
    public TaskKind Task { get; }

    /// <summary>Optional class names, indexed by label.</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>The number of examples.</summary>
    public int Count => Features.BatchSize;

    /// <summary>The per-example feature shape, such as [784] or [1, 28, 28].</summary>
    public int[] SampleShape => Features.Shape[1..].ToArray();

    /// <summary>Values per example.</summary>
    public int FeatureCount => Features.SampleSize;

    /// <summary>A multiclass dataset from a flat row-major feature array.</summary>
    /// <param name="features">N × prod(sampleShape) values, row-major.</param>
    /// <param name="sampleShape">Per-example shape, such as [784] or [1, 28, 28].</param>
    /// <param name="labels">N class indices.</param>
    /// <param name="classCount">Number of classes; defaults to max(label)+1.</param>
    /// <param name="classNames">Optional names of the classes.</param>
    public static Dataset ForClassification(float[] features, int[] sampleShape, int[] labels, int? classCount = null, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var x = MakeFeatures(features, sampleShape, labels.Length);
        int k = classCount ?? (labels.Length == 0 ? 0 : labels.Max() + 1);
        if (k < 2)
        {
            throw new ArgumentException($"a classification dataset needs at least 2 classes, got {k}.", nameof(classCount));
        }

        CheckLabels(labels, k);
        if (classNames is not null && classNames.Count != k)
        {
            throw new ArgumentException($"{classNames.Count} class names given for {k} classes.", nameof(classNames));
        }

        return new Dataset(x, labels, null, k, 0, TaskKind.Multiclass, classNames);
    }

    /// <summary>A multiclass dataset from one array per example.</summary>
    public static Dataset ForClassification(IReadOnlyList<float[]> rows, int[] labels, int? classCount = null, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(labels);
        var (flat, width) = Flatten(rows);
        if (rows.Count != labels.Length)
        {
            throw new ArgumentException($"{rows.Count} feature rows but {labels.Length} labels.", nameof(labels));
        }

        return ForClassification(flat, [width], labels, classCount, classNames);
    }

    /// <summary>A binary dataset (labels 0 or 1) trained with one logit and binary cross-entropy.</summary>
    public static Dataset ForBinary(float[] features, int[] sampleShape, int[] labels, IReadOnlyList<string>? classNames = null)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var x = MakeFeatures(features, sampleShape, labels.Length);
        CheckLabels(labels, 2);
        return new Dataset(x, labels, null, 2, 0, TaskKind.Binary, classNames);
    }

    /// <summary>A regression dataset with <paramref name="targetSize"/> real targets per example.</summary>
    public static Dataset ForRegression(float[] features, int[] sampleShape, float[] targets, int targetSize = 1)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (targetSize <= 0)
        {
            throw new ArgumentException($"targetSize must be positive, got {targetSize}.", nameof(targetSize));
        }

        if (targets.Length % targetSize != 0)
        {
            throw new ArgumentException($"{targets.Length} targets is not a multiple of targetSize {targetSize}.", nameof(targets));
        }

        int n = targets.Length / targetSize;
        var x = MakeFeatures(features, sampleShape, n);
        CheckTargets(targets, targetSize);
        return new Dataset(x, null, targets, 0, targetSize, TaskKind.Regression, null);
    }

    /// <summary>The examples at <paramref name="indices"/>, in that order (copies).</summary>
    public Dataset Subset(ReadOnlySpan<int> indices)
    {
        int d = FeatureCount;
        var features = new float[indices.Length * d];
        int[]? labels = Labels is null ? null : new int[indices.Length];
        float[]? targets = Targets is null ? null : new float[indices.Length * TargetSize];
        for (int i = 0; i < indices.Length; i++)
        {
            int src = indices[i];
            if ((uint)src >= (uint)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), $"index {src} at position {i} is outside 0..{Count - 1}.");
            }

            Features.Span.Slice(src * d, d).CopyTo(features.AsSpan(i * d, d));
            if (labels is not null)
            {
                labels[i] = Labels![src];
            }

            if (targets is not null)
            {
                Targets.AsSpan(src * TargetSize, TargetSize).CopyTo(targets.AsSpan(i * TargetSize, TargetSize));
            }
        }

        var shape = Features.Shape.ToArray();
        shape[0] = Math.Max(indices.Length, 1);
        var tensor = indices.Length == 0 ? throw new ArgumentException("a subset must hold at least one example.", nameof(indices)) : new Tensor(features, shape);
        return new Dataset(tensor, labels, targets, ClassCount, TargetSize, Task, ClassNames);
    }

    /// <summary>The same examples with features replaced (same count and shape), for normalization.</summary>
    public Dataset WithFeatures(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (!features.HasShape(Features.Shape))
        {
            throw new ArgumentException($"new features have shape {features.ShapeText}, expected {Features.ShapeText}.", nameof(features));
        }

        return new Dataset(features, Labels, Targets, ClassCount, TargetSize, Task, ClassNames);
    }

    /// <summary>The same data with per-example features viewed under another shape of equal size
    /// (for example [784] as [1, 28, 28]).</summary>
    public Dataset Reshape(params int[] sampleShape)
    {
        ArgumentNullException.ThrowIfNull(sampleShape);
        int size = 1;
        foreach (int s in sampleShape)
        {
            size *= s;
        }

        if (size != FeatureCount)
        {
            throw new ArgumentException($"sample shape {Tensor.FormatShape(sampleShape)} holds {size} values, the dataset has {FeatureCount} per example.", nameof(sampleShape));
        }

        // Not WithFeatures: that one insists on the same shape, and changing the shape is the point here.
        return new Dataset(new Tensor(Features.Data, [Count, .. sampleShape]), Labels, Targets, ClassCount, TargetSize, Task, ClassNames);
    }

    private static Tensor MakeFeatures(float[] features, int[] sampleShape, int n)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(sampleShape);
        if (n == 0)
        {
            throw new ArgumentException("the dataset is empty: it has no examples.", nameof(features));
        }

        if (sampleShape.Length == 0 || sampleShape.Any(s => s <= 0))
        {
            throw new ArgumentException($"sample shape {Tensor.FormatShape(sampleShape)} must have positive dimensions.", nameof(sampleShape));
        }

        long d = 1;
        foreach (int s in sampleShape)
        {
            d *= s;
        }

        if (features.Length != n * d)
        {
            throw new ArgumentException(
                $"features hold {features.Length} values, expected {n} examples x {d} features = {n * d}.", nameof(features));
        }

        CheckFinite(features, (int)d);
        return new Tensor(features, [n, .. sampleShape]);
    }

    /// <summary>Throws naming the row and column of the first NaN or infinite value.</summary>
    internal static void CheckFinite(ReadOnlySpan<float> values, int rowLength)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                throw new ArgumentException($"feature value {values[i]} in row {i / rowLength}, column {i % rowLength} is not a finite number.");
            }
        }
    }

    /// <summary>Throws naming the row and column of the first target that is NaN or infinite.</summary>
    internal static void CheckTargets(float[] targets, int targetSize)
    {
        for (int i = 0; i < targets.Length; i++)
        {
            if (!float.IsFinite(targets[i]))
            {
                throw new ArgumentException($"target {targets[i]} in row {i / targetSize}, column {i % targetSize} is not a finite number.", nameof(targets));
            }
        }
    }

    /// <summary>Throws naming the row of the first label outside 0..classCount-1 (or for no labels at all).</summary>
    internal static void CheckLabels(int[] labels, int classCount)
    {
        if (labels.Length == 0)
        {
            throw new ArgumentException("the dataset is empty: it has no examples.", nameof(labels));
        }

        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classCount)
            {
                throw new ArgumentException($"label {labels[i]} in row {i} is outside 0..{classCount - 1}.", nameof(labels));
            }
        }
    }

    private static (float[] Flat, int Width) Flatten(IReadOnlyList<float[]> rows)
    {
        if (rows.Count == 0)
        {
            throw new ArgumentException("the dataset is empty: it has no examples.", nameof(rows));
        }

        int width = rows[0]?.Length ?? throw new ArgumentException("row 0 is null.", nameof(rows));
        var flat = new float[rows.Count * width];
        for (int i = 0; i < rows.Count; i++)
        {
            var r = rows[i] ?? throw new ArgumentException($"row {i} is null.", nameof(rows));
            if (r.Length != width)
            {
                throw new ArgumentException($"row {i} has {r.Length} features, expected {width} (as in row 0).", nameof(rows));
            }

            r.CopyTo(flat, i * width);
        }

        return (flat, width);
    }
}
