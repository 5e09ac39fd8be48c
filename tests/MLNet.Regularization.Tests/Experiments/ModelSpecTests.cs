using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Experiments;

public class ModelSpecTests
{
    [Fact]
    public void Json_round_trips_every_setting()
    {
        var spec = new ModelSpec
        {
            Name = "mine",
            Hidden = [64, 32],
            Activation = "gelu",
            Dropout = 0.3f,
            InputDropout = 0.1f,
            DropConnect = 0.25f,
            BatchNorm = true,
            Training = new TrainingSpec
            {
                Epochs = 7, BatchSize = 50, Seed = 9, Optimizer = "adamw", LearningRate = 0.002f, WeightDecay = 0.01f, L2 = 1e-4f,
                MaxNorm = 3f, Schedule = "cosine", Normalization = "minmax", EarlyStoppingPatience = 2, ValidationFraction = 0.1,
            },
        };

        string json = spec.ToJson();
        var back = ModelSpec.FromJson(json);
        Assert.Equal(json, back.ToJson());
        Assert.Equal([64, 32], back.Hidden);
        Assert.Equal(0.25f, back.DropConnect);
        Assert.Equal(3f, back.Training.MaxNorm);
        Assert.Contains("\"inputDropout\": 0.1", json);
        Assert.DoesNotContain("displayName", json, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Missing_properties_take_their_defaults_and_comments_are_allowed()
    {
        var spec = ModelSpec.FromJson("""
            // a comment
            { "hidden": [16], "dropout": 0.5, }
            """);
        Assert.Equal("relu", spec.Activation);
        Assert.Equal(200, spec.Training.Epochs);
        Assert.Equal(10, spec.Training.EarlyStoppingPatience);
        Assert.Equal("standard", spec.Training.Normalization);
    }

    [Theory]
    [InlineData("""{ "hidden": [64, 0] }""", "hidden layer sizes must be positive, got 0 at position 2")]
    [InlineData("""{ "hidden": [] }""", "at least one hidden layer")]
    [InlineData("""{ "activation": "relux" }""", "unknown activation 'relux'; use one of relu, leaky_relu, tanh, sigmoid, gelu")]
    [InlineData("""{ "dropout": 1 }""", "'dropout' must be in [0, 1), got 1")]
    [InlineData("""{ "dropout": 0.5, "gaussianDropout": 0.5 }""", "alternatives")]
    [InlineData("""{ "training": { "optimizer": "rmsprop" } }""", "unknown optimizer 'rmsprop'")]
    [InlineData("""{ "training": { "weightDecay": 0.01 } }""", "set \"optimizer\": \"adamw\"")]
    [InlineData("""{ "training": { "epochs": 0 } }""", "'epochs' must be at least 1, got 0")]
    public void Invalid_values_are_rejected_with_a_clear_message(string json, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => ModelSpec.FromJson(json, "spec.json"));
        Assert.StartsWith("spec.json: ", e.Message);
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain("Parameter", e.Message);
    }

    [Theory]
    [InlineData("""{ "hiden": [64] }""", "unknown property 'hiden'; known properties are name, hidden,")]
    [InlineData("""{ "training": { "epoch": 3 } }""", "unknown property 'training.epoch'")]
    [InlineData("""{ "hidden": "64" }""", "'hidden' must be an array of integers")]
    [InlineData("""{ "training": { "epochs": 2.5 } }""", "'training.epochs' must be an integer")]
    [InlineData("""{ "batchNorm": "yes" }""", "'batchNorm' must be true or false")]
    [InlineData("""{ "hidden": [64 """, "not valid JSON")]
    [InlineData("""[1, 2]""", "expected a JSON object")]
    public void Malformed_json_is_an_invalid_data_error(string json, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelSpec.FromJson(json, "spec.json"));
        Assert.StartsWith("spec.json", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_list_file_may_hold_an_array_and_errors_name_the_entry()
    {
        var list = ModelSpec.ListFromJson("""[ { "name": "a" }, { "name": "b", "dropout": 0.5 } ]""", "grid.json");
        Assert.Equal(["a", "b"], list.Select(s => s.Name));
        var e = Assert.Throws<ArgumentException>(() => ModelSpec.ListFromJson("""[ { }, { "hidden": [-1] } ]""", "grid.json"));
        Assert.StartsWith("grid.json (configuration 2): hidden layer sizes must be positive", e.Message);
    }

    [Fact]
    public void The_network_follows_the_documented_layer_order()
    {
        var spec = new ModelSpec { Hidden = [8, 4], InputDropout = 0.2f, DropConnect = 0.5f, BatchNorm = true, Dropout = 0.3f };
        var net = spec.CreateNetwork(3);
        Assert.Equal(
            ["Dropout", "DropConnectDense", "BatchNorm", "ReLU", "Dropout", "DropConnectDense", "BatchNorm", "ReLU", "Dropout", "Dense"],
            net.Layers.Select(l => l.Name));
        Assert.Equal(3, ((Dense)net.Layers[^1]).Units);

        var gaussian = new ModelSpec { Hidden = [8], Activation = "tanh", GaussianDropout = 0.4f }.CreateNetwork(2);
        Assert.Equal(["Dense", "Tanh", "GaussianDropout", "Dense"], gaussian.Layers.Select(l => l.Name));
        Assert.Equal(WeightInit.GlorotUniform, ((Dense)gaussian.Layers[0]).Init);
    }

    [Fact]
    public void Training_settings_map_to_trainer_options()
    {
        var o = new TrainingSpec { Optimizer = "sgd", LearningRate = 0.05f, Momentum = 0.9f, Schedule = "cosine", Normalization = "none", MaxNorm = 4f }.ToTrainerOptions();
        var sgd = Assert.IsType<Sgd>(o.Optimizer);
        Assert.Equal(0.05f, sgd.LearningRate);
        Assert.Equal(0.9f, sgd.Momentum);
        Assert.IsType<CosineDecay>(o.Schedule);
        Assert.Equal(MLNet.Regularization.Data.NormalizationKind.None, o.Normalization);
        Assert.Equal(4f, o.MaxNorm);
    }
}
