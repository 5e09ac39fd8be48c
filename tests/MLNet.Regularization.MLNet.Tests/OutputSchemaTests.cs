using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNet.Regularization.Data;
using Xunit;

namespace MLNet.Regularization.MLNet.Tests;

/// <summary>The output columns and their annotations, as ML.NET's own trainers give them; permutation feature
/// importance; Save → Load with the native model back.</summary>
public sealed class OutputSchemaTests
{
    private static RegularizedNetworkOptions Small() => new() { HiddenLayers = { 16 }, Dropout = 0.1f, Epochs = 30, BatchSize = 32, LearningRate = 0.01f, Seed = 7, MaxThreads = 1 };

    private static (MLContext Ml, IDataView Keyed) Blobs()
    {
        var ml = new MLContext(seed: 1);
        var raw = ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1));
        return (ml, ml.Transforms.Conversion.MapValueToKey("Label").Fit(raw).Transform(raw));
    }

    [Fact]
    public void Score_has_the_class_names_as_slot_names()
    {
        var (ml, keyed) = Blobs();
        var scored = ml.MulticlassClassification.Trainers.RegularizedNetwork(Small()).Fit(keyed).Transform(keyed);
        VBuffer<ReadOnlyMemory<char>> names = default;
        scored.Schema["Score"].GetSlotNames(ref names);
        Assert.Equal(Rows.ClassNames, names.DenseValues().Select(n => n.ToString()));
    }

    [Theory]
    [InlineData("text")]
    [InlineData("uint")]
    [InlineData("binary")]
    [InlineData("regression")]
    public void The_real_output_has_exactly_the_columns_and_annotations_the_estimator_promises(string kind)
    {
        var ml = new MLContext(seed: 1);
        IDataView data;
        IEstimator<ITransformer> trainer;
        switch (kind)
        {
            case "text":
                data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(Rows.Blobs(60, 1))).Transform(ml.Data.LoadFromEnumerable(Rows.Blobs(60, 1)));
                trainer = ml.MulticlassClassification.Trainers.RegularizedNetwork(Small());
                break;
            case "uint":
                var rows = Rows.Blobs(60, 1).Select(r => new PipelineTests.UIntRow { Features = r.Features, Label = (uint)Array.IndexOf(Rows.ClassNames, r.Label) }).ToList();
                data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
                trainer = ml.MulticlassClassification.Trainers.RegularizedNetwork(Small());
                break;
            case "binary":
                data = ml.Data.LoadFromEnumerable(Rows.Binary(60, 1));
                trainer = ml.BinaryClassification.Trainers.RegularizedNetwork(Small());
                break;
            default:
                data = ml.Data.LoadFromEnumerable(Rows.Regression(60, 1));
                trainer = ml.Regression.Trainers.RegularizedNetwork(Small());
                break;
        }

        var promised = trainer.GetOutputSchema(Shape(data.Schema));
        var transformer = trainer.Fit(data);
        var outputs = new[] { transformer.Transform(data).Schema, transformer.GetOutputSchema(data.Schema), transformer.GetRowToRowMapper(data.Schema).OutputSchema };
        foreach (var actual in outputs)
        {
            foreach (var column in promised)
            {
                var real = actual[column.Name];
                Assert.Equal(column.ItemType.RawType, (real.Type as VectorDataViewType)?.ItemType.RawType ?? real.Type.RawType);
                Assert.Equal(column.IsKey, real.Type is KeyDataViewType);
                var promisedKinds = column.Annotations.Select(a => a.Name).OrderBy(n => n).ToList();
                var realKinds = real.Annotations.Schema.Select(a => a.Name).OrderBy(n => n).ToList();
                Assert.True(promisedKinds.SequenceEqual(realKinds), $"{kind} {column.Name}: promised [{string.Join(", ", promisedKinds)}], got [{string.Join(", ", realKinds)}]");
            }
        }
    }

    [Fact]
    public void Annotations_match_those_of_mlnet_sdca_on_the_same_data()
    {
        var (ml, keyed) = Blobs();
        var ours = ml.MulticlassClassification.Trainers.RegularizedNetwork(Small()).Fit(keyed).Transform(keyed).Schema;
        var sdca = ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(maximumNumberOfIterations: 2).Fit(keyed).Transform(keyed).Schema;
        foreach (string name in new[] { "Score", "PredictedLabel" })
        {
            foreach (var annotation in sdca[name].Annotations.Schema)
            {
                Assert.Equal(annotation.Type, ours[name].Annotations.Schema[annotation.Name].Type);
                Assert.Equal(Text(sdca[name].Annotations, annotation), Text(ours[name].Annotations, annotation));
            }
        }
    }

    [Fact]
    public void Permutation_feature_importance_runs_on_the_transformer()
    {
        var (ml, keyed) = Blobs();
        var transformer = ml.MulticlassClassification.Trainers.RegularizedNetwork(Small()).Fit(keyed);
        var importance = ml.MulticlassClassification.PermutationFeatureImportance(transformer, keyed, permutationCount: 1);
        Assert.Equal(4, importance.Length);
        // Features 0-2 separate the three blobs; shuffling any of them costs accuracy.
        Assert.All(importance.Take(3), m => Assert.True(m.MicroAccuracy.Mean < -0.05, $"accuracy change {m.MicroAccuracy.Mean}"));
    }

    [Fact]
    public void After_save_and_load_the_native_model_and_annotations_come_back()
    {
        var (ml, _) = Blobs();
        var raw = ml.Data.LoadFromEnumerable(Rows.Blobs(300, 1));
        var model = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.NormalizeMinMax("Features"))
            .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(Small()))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel")).Fit(raw);
        var original = model.GetRegularizedNetwork()!;
        var stream = new MemoryStream();
        ml.Model.Save(model, raw.Schema, stream);

        var fresh = new MLContext(seed: 5);
        stream.Position = 0;
        var plain = fresh.Model.Load(stream, out _);
        Assert.Null(plain.GetRegularizedNetwork());
        stream.Position = 0;
        var loaded = fresh.Model.LoadWithRegularizedNetwork(stream, out var schema);
        var network = loaded.GetRegularizedNetwork();
        Assert.NotNull(network);
        Assert.Equal("Features", schema["Features"].Name);

        Assert.Equal(original.Model.History.Epochs.Select(e => e.TrainLoss), network!.Model.History.Epochs.Select(e => e.TrainLoss));
        Assert.Equal(original.Model.Network.Describe(), network.Model.Network.Describe());
        var test = ml.Data.LoadFromEnumerable(Rows.Blobs(60, 3));
        Assert.Equal(model.Transform(test).GetColumn<float[]>("Score").SelectMany(v => v), loaded.Transform(test).GetColumn<float[]>("Score").SelectMany(v => v));
        Assert.Equal(model.Transform(test).GetColumn<string>("PredictedLabel"), loaded.Transform(test).GetColumn<string>("PredictedLabel"));

        // Monte Carlo dropout on the reloaded network (its dropout layers came back with the Monte Carlo form).
        var normalized = ((TransformerChain<ITransformer>)loaded).Take(2).Aggregate(test, (d, t) => t.Transform(d));
        var mc = network.PredictWithUncertainty(normalized, samples: 20);
        Assert.Equal(60, mc.Count);
        Assert.Contains(mc.Variance, v => v > 0);
        Assert.Equal(original.PredictWithUncertainty(normalized, samples: 20).MeanProbabilities, mc.MeanProbabilities);

        VBuffer<ReadOnlyMemory<char>> names = default;
        loaded.Transform(test).Schema["Score"].GetSlotNames(ref names);
        Assert.Equal(Rows.ClassNames, names.DenseValues().Select(n => n.ToString()));

        var engine = fresh.Model.CreatePredictionEngine<BlobRow, BlobPrediction>(loaded);
        Assert.Equal(model.Transform(test).GetColumn<string>("PredictedLabel"), Rows.Blobs(60, 3).Select(r => engine.Predict(r).PredictedLabel));
    }

    [Fact]
    public void A_network_saved_alone_loads_back_as_itself()
    {
        var (ml, keyed) = Blobs();
        var options = Small();
        options.Dropout = 0; // no stochastic layer: the model comes back from the scoring graph itself
        var transformer = ml.MulticlassClassification.Trainers.RegularizedNetwork(options).Fit(keyed);
        var stream = new MemoryStream();
        ml.Model.Save(transformer, keyed.Schema, stream);
        stream.Position = 0;
        var loaded = Assert.IsType<RegularizedNetworkTransformer>(new MLContext().Model.LoadWithRegularizedNetwork(stream, out _));
        Assert.Equal(transformer.OnnxModel, loaded.OnnxModel);
        Assert.Equal(transformer.Model.PredictProbabilities(Features(keyed)), loaded.Model.PredictProbabilities(Features(keyed)));
        Assert.Equal(OnnxScoringGraphExport(transformer), loaded.OnnxModel);
    }

    private static byte[] OnnxScoringGraphExport(RegularizedNetworkTransformer transformer)
    {
        var (bytes, _) = OnnxScoringGraph.Build(transformer.Model, transformer.FeatureColumnName, labelHasKeyValues: true);
        return OnnxScoringGraph.RestoreExport(bytes);
    }

    private static Tensor Features(IDataView data)
    {
        var rows = data.GetColumn<float[]>("Features").ToList();
        return new Tensor(rows.SelectMany(r => r).ToArray(), rows.Count, rows[0].Length);
    }

    private static string Text(DataViewSchema.Annotations annotations, DataViewSchema.Column annotation)
    {
        var method = typeof(OutputSchemaTests).GetMethod(nameof(TextOf), BindingFlags.NonPublic | BindingFlags.Static)!.MakeGenericMethod(annotation.Type.RawType);
        return (string)method.Invoke(null, [annotations, annotation.Name])!;
    }

    private static string TextOf<T>(DataViewSchema.Annotations annotations, string name)
    {
        T value = default!;
        annotations.GetValue(name, ref value);
        return value is VBuffer<ReadOnlyMemory<char>> text ? string.Join(",", text.DenseValues()) : value is VBuffer<uint> keys ? string.Join(",", keys.DenseValues()) : $"{value}";
    }

    private static SchemaShape Shape(DataViewSchema schema)
    {
        // SchemaShape.Create is internal to ML.NET; the test reaches it to describe its input as a shape.
        var create = typeof(SchemaShape).GetMethod("Create", BindingFlags.NonPublic | BindingFlags.Static)!;
        return (SchemaShape)create.Invoke(null, [schema])!;
    }
}
