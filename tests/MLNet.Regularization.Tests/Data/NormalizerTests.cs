using MLNet.Regularization.Data;
using MLNet.Regularization.Tensors;
using Xunit;

namespace MLNet.Regularization.Tests.Data;

public sealed class NormalizerTests
{
    private const int Rows = 200;
    private const int Columns = 6;

    [Fact]
    public void MinMax_MapsTrainMinToZeroAndMaxToOne()
    {
        var train = RandomData(seed: 1);
        var normalizer = Normalizer.Fit(NormalizationKind.MinMax, train);
        var result = normalizer.Apply(train);

        Assert.Equal(NormalizationKind.MinMax, normalizer.Kind);
        Assert.Equal(Columns, normalizer.FeatureCount);
        for (int j = 0; j < Columns; j++)
        {
            var column = Column(result, j);
            Assert.Equal(0f, column.Min(), 6);
            Assert.Equal(1f, column.Max(), 6);
        }
    }

    [Fact]
    public void Standard_GivesZeroMeanAndUnitPopulationStd()
    {
        var train = RandomData(seed: 2);
        var result = Normalizer.Fit(NormalizationKind.Standard, train).Apply(train);

        for (int j = 0; j < Columns; j++)
        {
            var column = Column(result, j);
            double mean = column.Average(v => (double)v);
            double std = Math.Sqrt(column.Average(v => (v - mean) * (v - mean)));
            Assert.Equal(0, mean, 5);
            Assert.Equal(1, std, 5);
        }
    }

    [Theory]
    [InlineData(NormalizationKind.MinMax)]
    [InlineData(NormalizationKind.Standard)]
    public void Test_UsesTheTrainingParametersExactly(NormalizationKind kind)
    {
        var train = RandomData(seed: 3);
        var test = RandomData(seed: 4, shift: 50f);
        float[] before = (float[])test.Features.Data.Clone();
        var normalizer = Normalizer.Fit(kind, train);
        var result = normalizer.Apply(test);

        float[] offset = normalizer.Offset.ToArray(), scale = normalizer.Scale.ToArray();
        for (int i = 0; i < before.Length; i++)
        {
            Assert.Equal((before[i] - offset[i % Columns]) * scale[i % Columns], result.Features.Data[i]);
        }

        // The test set's own statistics were not used: shifted data lands far from [0, 1] / mean 0.
        Assert.True(Column(result, 0).Average() > 2);
        Assert.Equal(before, test.Features.Data); // the input dataset is untouched
        Assert.Equal(test.Labels, result.Labels);
    }

    [Fact]
    public void FitParameters_MatchTheFormulas()
    {
        var train = Dataset.ForClassification([1, 10, 3, 20, 5, 60], [2], [0, 1, 0]);
        var minMax = Normalizer.Fit(NormalizationKind.MinMax, train);
        Assert.Equal([1f, 10f], minMax.Offset.ToArray());
        Assert.Equal([1f / 4, 1f / 50], minMax.Scale.ToArray());

        var standard = Normalizer.Fit(NormalizationKind.Standard, train);
        Assert.Equal([3f, 30f], standard.Offset.ToArray());
        // population std of {1,3,5} = sqrt(8/3); of {10,20,60} = sqrt(1400/3)
        Assert.Equal(1 / Math.Sqrt(8.0 / 3), standard.Scale.Span[0], 6);
        Assert.Equal(1 / Math.Sqrt(1400.0 / 3), standard.Scale.Span[1], 6);

        var none = Normalizer.Fit(NormalizationKind.None, train);
        Assert.Equal(train.Features.Data, none.Apply(train).Features.Data);
    }

    [Theory]
    [InlineData(NormalizationKind.MinMax)]
    [InlineData(NormalizationKind.Standard)]
    public void ConstantColumn_GetsScaleOneAndMapsToZero(NormalizationKind kind)
    {
        var train = Dataset.ForClassification([7, 1, 7, 2, 7, 3], [2], [0, 1, 1]);
        var normalizer = Normalizer.Fit(kind, train);

        Assert.Equal(7f, normalizer.Offset.Span[0]);
        Assert.Equal(1f, normalizer.Scale.Span[0]);
        var result = normalizer.Apply(train).Features.Data;
        Assert.Equal([0f, 0f, 0f], new[] { result[0], result[2], result[4] });
        Assert.All(result, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Standard_FloorsTinyDeviationsAtATenthOfTheRange()
    {
        // Column 0: one pixel lit in 1,000 images (std 0.0316, range 1): without the floor it would be scaled by 31.6
        // and its one lit value standardized to 31.6; the floor caps the scale at 10 / range. Column 1 is an ordinary
        // feature (std 0.5 of range 1) and keeps its own deviation.
        int n = 1000;
        var x = new float[n * 2];
        x[0] = 1;
        for (int r = 0; r < n; r++)
        {
            x[(r * 2) + 1] = r % 2;
        }

        var normalizer = Normalizer.Fit(NormalizationKind.Standard, Dataset.ForClassification(x, [2], new int[n], classCount: 2));
        Assert.Equal(Normalizer.MaxStandardScore, normalizer.Scale.Span[0], 5);
        Assert.Equal(2f, normalizer.Scale.Span[1], 5);
        var standardized = normalizer.Apply(Dataset.ForClassification(x, [2], new int[n], classCount: 2)).Features.Data;
        Assert.True(Enumerable.Range(0, n).Max(r => Math.Abs(standardized[r * 2])) <= Normalizer.MaxStandardScore);
    }

    [Fact]
    public void PerChannel_SharesOneMeanAndDeviationPerImageChannel()
    {
        // Two examples of [2, 1, 2]: channel 0 holds 0, 2, 4, 6 (mean 3, population std sqrt(5)), channel 1 holds 10 everywhere.
        float[] x = [0, 2, 10, 10, 4, 6, 10, 10];
        var images = Dataset.ForClassification(x, [2, 1, 2], [0, 1]);
        var normalizer = Normalizer.Fit(NormalizationKind.PerChannel, images);
        Assert.Equal([3f, 3f, 10f, 10f], normalizer.Offset.ToArray());
        Assert.Equal(1 / Math.Sqrt(5), normalizer.Scale.Span[0], 6);
        Assert.Equal(normalizer.Scale.Span[0], normalizer.Scale.Span[1]);
        Assert.Equal([1f, 1f], normalizer.Scale.Span[2..].ToArray());

        // Flat examples are one channel: one mean and one deviation over every value.
        var flat = Normalizer.Fit(NormalizationKind.PerChannel, images.Reshape(4));
        Assert.All(flat.Offset.ToArray(), o => Assert.Equal(x.Average(), o, 5));
        Assert.Single(flat.Scale.ToArray().Distinct());
    }

    [Fact]
    public void SpanApply_WorksOnBatchesAndInPlace_AndChecksLengths()
    {
        var normalizer = Normalizer.FromParameters(NormalizationKind.Standard, [1f, 2f], [10f, 0.5f]);
        float[] rows = [1, 2, 3, 4, 0, 0];
        var output = new float[6];
        normalizer.Apply(rows, output);
        Assert.Equal([0f, 0f, 20f, 1f, -10f, -1f], output);

        normalizer.Apply(rows, rows);
        Assert.Equal(output, rows);

        Assert.Throws<ArgumentException>(() => normalizer.Apply(new float[5], new float[5]));
        Assert.Throws<ArgumentException>(() => normalizer.Apply(new float[4], new float[6]));
        Assert.Throws<ArgumentException>(() => normalizer.Apply(Dataset.ForClassification([1, 2, 3, 4, 5, 6], [3], [0, 1])));
    }

    [Fact]
    public void FromParameters_Validates()
    {
        Assert.Throws<ArgumentException>(() => Normalizer.FromParameters(NormalizationKind.MinMax, [1f], [1f, 2f]));
        Assert.Throws<ArgumentException>(() => Normalizer.FromParameters(NormalizationKind.MinMax, [], []));
        var e = Assert.Throws<ArgumentException>(() => Normalizer.FromParameters(NormalizationKind.MinMax, [0f, float.NaN], [1f, 1f]));
        Assert.Contains("feature 1", e.Message);
    }

    private static Dataset RandomData(int seed, float shift = 0f)
    {
        var rng = new Rng(seed);
        var x = new float[Rows * Columns];
        for (int i = 0; i < x.Length; i++)
        {
            int column = i % Columns;
            // Columns with different centres and spreads, some far from zero.
            x[i] = shift + (column * 100f) - 40f + ((column + 1) * 3f * rng.NextGaussian());
        }

        var labels = Enumerable.Range(0, Rows).Select(i => i % 3).ToArray();
        return Dataset.ForClassification(x, [Columns], labels);
    }

    private static float[] Column(Dataset data, int column) =>
        Enumerable.Range(0, data.Count).Select(r => data.Features.Data[(r * Columns) + column]).ToArray();
}
