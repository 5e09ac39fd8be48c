using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MLNet.Regularization.Tensors;

namespace MLNet.Regularization.Data;

/// <summary>How <see cref="Normalizer"/> rescales each feature.</summary>
public enum NormalizationKind
{
    /// <summary>Leave features as they are (offset 0, scale 1).</summary>
    None,

    /// <summary>Map the training minimum to 0 and the training maximum to 1.</summary>
    MinMax,

    /// <summary>Map the training mean to 0 and one (population) standard deviation to 1, feature by feature. A
    /// deviation is floored at 1/<see cref="Normalizer.MaxStandardScore"/> of the feature's training range, so a
    /// feature that is almost constant (an image's border pixel, a rare flag) is not multiplied by a huge factor.</summary>
    Standard,

    /// <summary>One mean and one standard deviation per channel of <c>[C, H, W]</c> examples, shared by all of the
    /// channel's pixels; examples of any other shape count as one channel (one global mean and deviation). The
    /// natural choice for images, whose pixels share one scale: per-pixel statistics would blow up the border
    /// pixels that are almost always 0.</summary>
    PerChannel,
}

/// <summary>
/// A per-feature affine map <c>y[i] = (x[i] - Offset[i]) · Scale[i]</c>, fitted on training data only and then
/// applied unchanged to validation, test and prediction inputs. "Feature" means a position of the flattened
/// example, so an image gets one offset and scale per pixel.
/// </summary>
/// <remarks>
/// The subtract-then-multiply form is deliberate: the ONNX exporter writes it as a <c>Sub</c> node and a
/// <c>Mul</c> node in front of the network, so an exported model takes raw features. A feature that is
/// constant on the training set gets scale 1 (it maps to 0 on the training set) instead of a division by zero.
/// <see cref="NormalizationKind.PerChannel"/> is stored the same way, its channel's offset and scale repeated for
/// every pixel. Instances are immutable and safe to share between threads.
/// </remarks>
public sealed class Normalizer
{
    /// <summary>The largest magnitude <see cref="NormalizationKind.Standard"/> gives a training value: each feature's
    /// deviation is floored at its range / 10. Typical features are not touched (a normal sample's range is about
    /// 6 to 9 deviations, a uniform one's 3.5); only almost-constant ones are, whose rare values would otherwise be
    /// scaled to tens or hundreds.</summary>
    public const float MaxStandardScore = 10f;

    private readonly float[] _offset;
    private readonly float[] _scale;

    private Normalizer(NormalizationKind kind, float[] offset, float[] scale)
    {
        Kind = kind;
        _offset = offset;
        _scale = scale;
    }

    /// <summary>How the parameters were (or would be) fitted.</summary>
    public NormalizationKind Kind { get; }

    /// <summary>The number of values per example this normalizer expects.</summary>
    public int FeatureCount => _offset.Length;

    /// <summary>What is subtracted from each feature.</summary>
    public ReadOnlyMemory<float> Offset => _offset;

    /// <summary>What each centred feature is multiplied by.</summary>
    public ReadOnlyMemory<float> Scale => _scale;

    /// <summary>Fits the parameters of <paramref name="kind"/> on <paramref name="train"/> (never on test data:
    /// its statistics would leak into the model).</summary>
    /// <param name="kind">None, MinMax, Standard or PerChannel.</param>
    /// <param name="train">The training set.</param>
    public static Normalizer Fit(NormalizationKind kind, Dataset train)
    {
        ArgumentNullException.ThrowIfNull(train);
        using var source = new DatasetSource(train);
        return Fit(kind, source);
    }

    /// <summary>Fits the parameters of <paramref name="kind"/> on streamed training examples: one pass in order
    /// (two for <see cref="NormalizationKind.Standard"/> and <see cref="NormalizationKind.PerChannel"/>), holding one
    /// example at a time. Every statistic is summed in the same order as over a <see cref="Dataset"/>'s rows, so the
    /// same examples give the same bits either way.</summary>
    /// <param name="kind">None, MinMax, Standard or PerChannel.</param>
    /// <param name="train">The training examples.</param>
    public static Normalizer Fit(NormalizationKind kind, ExampleSource train)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckKind(kind);
        int d = train.FeatureCount;
        int n = train.Count;
        var offset = new float[d];
        var scale = new float[d];
        switch (kind)
        {
            case NormalizationKind.None:
                scale.AsSpan().Fill(1f);
                break;

            case NormalizationKind.MinMax:
                var (min, max) = Range(train);
                for (int j = 0; j < d; j++)
                {
                    offset[j] = min[j];
                    scale[j] = Reciprocal((double)max[j] - min[j]);
                }

                break;

            case NormalizationKind.Standard:
                // Two passes in double: the mean first, then the squared deviations, so a large common offset
                // does not swamp the variance as it can in the one-pass sum-of-squares formula.
                var mean = new double[d];
                var squares = new double[d];
                var low = new float[d];
                var high = new float[d];
                low.AsSpan().Fill(float.PositiveInfinity);
                high.AsSpan().Fill(float.NegativeInfinity);
                train.ForEachRow((_, x) =>
                {
                    for (int j = 0; j < d; j++)
                    {
                        float v = x[j];
                        mean[j] += v;
                        low[j] = Math.Min(low[j], v);
                        high[j] = Math.Max(high[j], v);
                    }
                });

                for (int j = 0; j < d; j++)
                {
                    mean[j] /= n;
                }

                train.ForEachRow((_, x) =>
                {
                    for (int j = 0; j < d; j++)
                    {
                        double diff = x[j] - mean[j];
                        squares[j] += diff * diff;
                    }
                });

                for (int j = 0; j < d; j++)
                {
                    offset[j] = (float)mean[j];
                    double floor = ((double)high[j] - low[j]) / MaxStandardScore;
                    scale[j] = Reciprocal(Math.Max(Math.Sqrt(squares[j] / n), floor));
                }

                break;

            case NormalizationKind.PerChannel:
                FitPerChannel(train, offset, scale);
                break;
        }

        return new Normalizer(kind, offset, scale);
    }

    /// <summary>Each feature's smallest and largest value, in one pass.</summary>
    private static (float[] Min, float[] Max) Range(ExampleSource train)
    {
        int d = train.FeatureCount;
        var min = new float[d];
        var max = new float[d];
        min.AsSpan().Fill(float.PositiveInfinity);
        max.AsSpan().Fill(float.NegativeInfinity);
        train.ForEachRow((_, x) =>
        {
            for (int j = 0; j < d; j++)
            {
                min[j] = Math.Min(min[j], x[j]);
                max[j] = Math.Max(max[j], x[j]);
            }
        });
        return (min, max);
    }

    /// <summary>Per-channel mean and population deviation over every example and pixel, in double, written out
    /// once per pixel. Each channel has its own sums, added to row by row: the same order, value by value, as summing
    /// one channel over all rows before the next.</summary>
    private static void FitPerChannel(ExampleSource train, float[] offset, float[] scale)
    {
        int d = offset.Length;
        var shape = train.Shape;
        int channels = shape.Length == 3 ? shape[0] : 1;
        int plane = d / channels;
        double count = (double)train.Count * plane;
        var sums = new double[channels];
        train.ForEachRow((_, x) =>
        {
            for (int c = 0; c < channels; c++)
            {
                double sum = sums[c];
                foreach (float v in x.Slice(c * plane, plane))
                {
                    sum += v;
                }

                sums[c] = sum;
            }
        });

        var means = new double[channels];
        for (int c = 0; c < channels; c++)
        {
            means[c] = sums[c] / count;
        }

        var squares = new double[channels];
        train.ForEachRow((_, x) =>
        {
            for (int c = 0; c < channels; c++)
            {
                double mean = means[c], total = squares[c];
                foreach (float v in x.Slice(c * plane, plane))
                {
                    total += (v - mean) * (v - mean);
                }

                squares[c] = total;
            }
        });

        for (int c = 0; c < channels; c++)
        {
            float channelScale = Reciprocal(Math.Sqrt(squares[c] / count));
            offset.AsSpan(c * plane, plane).Fill((float)means[c]);
            scale.AsSpan(c * plane, plane).Fill(channelScale);
        }
    }

    /// <summary>Rebuilds a normalizer from stored parameters (for example when importing a saved model).</summary>
    /// <param name="kind">The kind the parameters were fitted as (informational).</param>
    /// <param name="offset">One offset per feature.</param>
    /// <param name="scale">One scale per feature.</param>
    public static Normalizer FromParameters(NormalizationKind kind, ReadOnlySpan<float> offset, ReadOnlySpan<float> scale)
    {
        CheckKind(kind);
        if (offset.Length == 0 || offset.Length != scale.Length)
        {
            throw new ArgumentException(
                $"offset and scale must have the same positive length, got {offset.Length} and {scale.Length}.", nameof(scale));
        }

        for (int i = 0; i < offset.Length; i++)
        {
            if (!float.IsFinite(offset[i]) || !float.IsFinite(scale[i]))
            {
                throw new ArgumentException(
                    $"feature {i} has offset {offset[i]} and scale {scale[i]}; both must be finite numbers.", float.IsFinite(offset[i]) ? nameof(scale) : nameof(offset));
            }
        }

        return new Normalizer(kind, offset.ToArray(), scale.ToArray());
    }

    /// <summary>A new dataset with normalized features; <paramref name="data"/> is left untouched.</summary>
    /// <param name="data">Any dataset with <see cref="FeatureCount"/> values per example.</param>
    public Dataset Apply(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.FeatureCount != FeatureCount)
        {
            throw new ArgumentException(
                $"the dataset has {data.FeatureCount} features per example, this normalizer was fitted on {FeatureCount}.", nameof(data));
        }

        var result = new float[data.Features.Length];
        Apply(data.Features.Span, result);
        return data.WithFeatures(new Tensor(result, data.Features.Shape.ToArray()));
    }

    /// <summary>Normalizes a batch of flattened rows. <paramref name="destination"/> may be the same memory as
    /// <paramref name="source"/> (in place), but must not partly overlap it.</summary>
    /// <param name="source">Rows × <see cref="FeatureCount"/> values.</param>
    /// <param name="destination">Where the result goes; same length as the source.</param>
    public void Apply(ReadOnlySpan<float> source, Span<float> destination)
    {
        int d = FeatureCount;
        if (source.Length % d != 0)
        {
            throw new ArgumentException(
                $"{source.Length} values is not a whole number of rows of {d} features.", nameof(source));
        }

        if (destination.Length != source.Length)
        {
            throw new ArgumentException(
                $"destination holds {destination.Length} values, the source {source.Length}.", nameof(destination));
        }

        for (int start = 0; start < source.Length; start += d)
        {
            var row = destination.Slice(start, d);
            TensorPrimitives.Subtract(source.Slice(start, d), _offset, row);
            TensorPrimitives.Multiply(row, _scale, row);
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"Normalizer({Kind}, {FeatureCount} features)";

    /// <summary>1/<paramref name="spread"/>, or 1 when the feature does not vary (or so little that the
    /// reciprocal would not be a finite float).</summary>
    private static float Reciprocal(double spread)
    {
        float r = (float)(1.0 / spread);
        return spread > 0 && float.IsFinite(r) ? r : 1f;
    }

    private static void CheckKind(NormalizationKind kind)
    {
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentException($"unknown normalization kind {(int)kind}.", nameof(kind));
        }
    }
}
