using MLNet.Regularization.Data;
using Xunit;

namespace MLNet.Regularization.Tests.Data;

public sealed class DataSplitTests
{
    /// <summary>Unbalanced classes: 50, 31, 7, 2 and 1 examples, interleaved; feature 0 is the row index.</summary>
    private static Dataset Unbalanced()
    {
        int[] sizes = [50, 31, 7, 2, 1];
        var labels = new List<int>();
        for (int round = 0; labels.Count < sizes.Sum(); round++)
        {
            for (int k = 0; k < sizes.Length; k++)
            {
                if (round < sizes[k])
                {
                    labels.Add(k);
                }
            }
        }

        var features = Enumerable.Range(0, labels.Count).SelectMany(i => new[] { (float)i, i * 0.5f }).ToArray();
        return Dataset.ForClassification(features, [2], labels.ToArray());
    }

    private static int[] Ids(Dataset d) => Enumerable.Range(0, d.Count).Select(i => (int)d.Features.Data[i * 2]).ToArray();

    [Theory]
    [InlineData(0.2)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void KeepsPerClassProportionsWithinOneExample(double fraction)
    {
        var data = Unbalanced();
        var (train, test) = DataSplit.StratifiedSplit(data, fraction, seed: 7);

        for (int k = 0; k < data.ClassCount; k++)
        {
            int total = data.Labels!.Count(l => l == k);
            int inTest = test.Labels!.Count(l => l == k);
            int inTrain = train.Labels!.Count(l => l == k);
            Assert.Equal(total, inTest + inTrain);
            if (total >= 2)
            {
                Assert.InRange(inTest, 1, total - 1);
                Assert.InRange(inTest, fraction * total - 1, fraction * total + 1);
            }
            else
            {
                Assert.Equal(0, inTest); // a lone example stays in training
            }
        }

        Assert.Equal(data.ClassCount, train.ClassCount);
        Assert.Equal(data.ClassCount, test.ClassCount);
    }

    [Fact]
    public void TrainAndTestAreDisjointAndCoverEverything_AndKeepLabelsWithFeatures()
    {
        var data = Unbalanced();
        var (train, test) = DataSplit.StratifiedSplit(data, 0.3, seed: 1);

        int[] trainIds = Ids(train), testIds = Ids(test);
        Assert.Empty(trainIds.Intersect(testIds));
        Assert.Equal(Enumerable.Range(0, data.Count), trainIds.Concat(testIds).Order());
        Assert.Equal(trainIds.Order(), trainIds); // original order kept
        for (int i = 0; i < test.Count; i++)
        {
            Assert.Equal(data.Labels![testIds[i]], test.Labels![i]);
        }
    }

    [Fact]
    public void IsReproducibleBySeed_AndDiffersBetweenSeeds()
    {
        var data = Unbalanced();
        int[] a = Ids(DataSplit.StratifiedSplit(data, 0.25, seed: 42).Test);
        int[] b = Ids(DataSplit.StratifiedSplit(data, 0.25, seed: 42).Test);
        int[] c = Ids(DataSplit.StratifiedSplit(data, 0.25, seed: 43).Test);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Regression_FallsBackToAShuffledSplit()
    {
        var x = Enumerable.Range(0, 40).Select(i => (float)i).ToArray();
        var data = Dataset.ForRegression(x, [1], x.Select(v => v * 2).ToArray());
        var (train, test) = DataSplit.StratifiedSplit(data, 0.25, seed: 3);

        Assert.Equal(10, test.Count);
        Assert.Equal(30, train.Count);
        var ids = train.Features.Data.Concat(test.Features.Data).Order();
        Assert.Equal(x, ids);
        Assert.All(Enumerable.Range(0, test.Count), i => Assert.Equal(test.Features.Data[i] * 2, test.Targets![i]));
        Assert.NotEqual(Enumerable.Range(30, 10).Select(i => (float)i), test.Features.Data); // not just the tail
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void RejectsFractionsOutsideZeroOne(double fraction)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => DataSplit.StratifiedSplit(Unbalanced(), fraction, 1));
        Assert.Contains("strictly between 0 and 1", e.Message);
    }

    [Fact]
    public void RejectsDataThatCannotBeSplit()
    {
        var singletons = Dataset.ForClassification([1, 2, 3], [1], [0, 1, 2]);
        var e = Assert.Throws<ArgumentException>(() => DataSplit.StratifiedSplit(singletons, 0.5, 1));
        Assert.Contains("no class has two examples", e.Message);

        var one = Dataset.ForRegression([1], [1], [1]);
        Assert.Throws<ArgumentException>(() => DataSplit.StratifiedSplit(one, 0.5, 1));
    }

    [Fact]
    public void Shuffle_IsASeededPermutation()
    {
        var data = Unbalanced();
        int[] a = Ids(DataSplit.Shuffle(data, 5));
        Assert.Equal(a, Ids(DataSplit.Shuffle(data, 5)));
        Assert.NotEqual(a, Ids(DataSplit.Shuffle(data, 6)));
        Assert.Equal(Enumerable.Range(0, data.Count), a.Order());
        Assert.Equal(Enumerable.Range(0, data.Count), Ids(data)); // original untouched
        Assert.Equal(DataSplit.Permutation(10, 9), DataSplit.Permutation(10, 9));
    }
}

public class StratifiedKFoldTests
{
    [Fact]
    public void Folds_partition_the_data_and_keep_class_proportions()
    {
        var data = TestData.Blobs(103, 2, 3, seed: 1);
        var folds = DataSplit.StratifiedKFold(data, 4, seed: 7);
        Assert.Equal(4, folds.Count);
        Assert.Equal(103, folds.Sum(f => f.Validation.Count));
        Assert.All(folds, f => Assert.Equal(103, f.Train.Count + f.Validation.Count));
        Assert.All(folds, f => Assert.InRange(f.Validation.Count, 25, 26));

        // Every class's count differs by at most one between folds.
        for (int c = 0; c < 3; c++)
        {
            var counts = folds.Select(f => f.Validation.Labels!.Count(l => l == c)).ToList();
            Assert.True(counts.Max() - counts.Min() <= 1, $"class {c}: {string.Join(", ", counts)}");
        }

        // Validation parts are disjoint: compare the feature rows themselves.
        var rows = folds.SelectMany(f => Enumerable.Range(0, f.Validation.Count).Select(i => string.Join(",", f.Validation.Features.Span.Slice(i * 2, 2).ToArray()))).ToList();
        Assert.Equal(103, rows.Distinct().Count());

        // Same seed, same folds.
        Assert.Equal(folds[1].Validation.Labels, DataSplit.StratifiedKFold(data, 4, seed: 7)[1].Validation.Labels);
        Assert.Throws<ArgumentOutOfRangeException>(() => DataSplit.StratifiedKFold(data, 1, 0));
    }
}
