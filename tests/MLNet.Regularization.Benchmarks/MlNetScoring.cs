using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;
using MLNet.Regularization.Data;
using MLNet.Regularization.MLNet;

namespace MLNet.Regularization.Benchmarks;

/// <summary>
/// Scoring inside ML.NET: the adapter's transformer for the MLP 784-1024-1024-10 (one epoch on the committed subset;
/// speed does not depend on the weights) against ML.NET's LbfgsMaximumEntropy and LightGbm (40 boosting rounds on a
/// quarter of the pixels per tree, as in samples/MLNetComparison, so that fitting stays short) on the same rows:
/// a PredictionEngine one row at a time, and <c>Transform</c> over 10,000 rows read through a cursor.
/// </summary>
internal static class MlNetScoring
{
    private const int TransformRows = 10_000;

    public static void Measure(List<Row> rows)
    {
        var (train, _) = SampleData.LoadFashionMnistSmall();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(PixelRow.From(train, train.Count));
        var many = ml.Data.LoadFromEnumerable(PixelRow.From(train, TransformRows));
        IEstimator<ITransformer> Pipeline(IEstimator<ITransformer> trainer) => ml.Transforms.Conversion.MapValueToKey("Label").Append(trainer);
        var network = new RegularizedNetworkOptions { HiddenLayers = { Workloads.Hidden, Workloads.Hidden }, Epochs = 1, Seed = 1 };
        var candidates = new (string Name, IEstimator<ITransformer> Pipeline)[]
        {
            ("network MLP", Pipeline(ml.MulticlassClassification.Trainers.RegularizedNetwork(network))),
            ("LbfgsMaximumEntropy", Pipeline(ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy())),
            ("LightGbm", Pipeline(ml.MulticlassClassification.Trainers.LightGbm(new LightGbmMulticlassTrainer.Options
            {
                NumberOfIterations = 40, Booster = new GradientBooster.Options { FeatureFraction = 0.25 },
            }))),
        };

        var first = PixelRow.From(train, 1).Single();
        foreach (var (name, pipeline) in candidates)
        {
            var model = pipeline.Fit(data);
            var engine = ml.Model.CreatePredictionEngine<PixelRow, ScoreRow>(model);
            var prediction = new ScoreRow();
            rows.Add(new("ML.NET", $"{name}: engine", QuickRunner.Rate(() => engine.Predict(first, ref prediction)), "rows/s"));
            rows.Add(new("ML.NET", $"{name}: Transform", QuickRunner.Rate(() => ReadScores(model.Transform(many))) * TransformRows, "rows/s"));
        }
    }

    /// <summary>Pulls every row's Score through a cursor: Transform itself is lazy.</summary>
    private static void ReadScores(IDataView scored)
    {
        var column = scored.Schema["Score"];
        using var cursor = scored.GetRowCursor([column]);
        var getter = cursor.GetGetter<VBuffer<float>>(column);
        VBuffer<float> score = default;
        while (cursor.MoveNext())
        {
            getter(ref score);
        }
    }

    /// <summary>One image: its 784 pixels and its class name.</summary>
    private sealed class PixelRow
    {
        [VectorType(784)]
        public float[] Features { get; set; } = [];

        public string Label { get; set; } = "";

        /// <summary><paramref name="count"/> rows, cycling through the data set.</summary>
        public static IEnumerable<PixelRow> From(Dataset data, int count)
        {
            var x = data.Features.Data;
            for (int r = 0; r < count; r++)
            {
                int i = r % data.Count;
                yield return new PixelRow { Features = x.AsSpan(i * 784, 784).ToArray(), Label = data.ClassNames![data.Labels![i]] };
            }
        }
    }

    /// <summary>The scored columns read back.</summary>
    private sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }
}
