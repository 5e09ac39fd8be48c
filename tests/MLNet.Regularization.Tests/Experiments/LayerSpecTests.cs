using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Experiments;

public class LayerSpecTests
{
    private const string Cnn = """
        { "name": "cnn",
          "layers": [
            { "type": "cutout", "size": 4 },
            { "type": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "useBias": false },
            { "type": "batchnorm" }, { "type": "relu" }, { "type": "maxpool2d", "pool": 2 },
            { "type": "dropconnect_conv2d", "filters": 6, "kernel": 3, "rate": 0.2, "padding": 1 },
            { "type": "relu" }, { "type": "spatial_dropout2d", "rate": 0.1 }, { "type": "dropblock", "rate": 0.1, "blockSize": 2 },
            { "type": "avgpool2d" }, { "type": "flatten" },
            { "type": "dropconnect_dense", "units": 12, "rate": 0.3, "maskMode": "per_example" },
            { "type": "leaky_relu", "slope": 0.1 }, { "type": "dropout", "rate": 0.5, "variant": "classic" },
            { "type": "dense", "units": 8, "init": "glorot_uniform" }, { "type": "gelu" }, { "type": "gaussian_dropout", "rate": 0.2 }
          ],
          "training": { "epochs": 1, "batchSize": 8, "normalization": "none" } }
        """;

    [Fact]
    public void A_layer_list_builds_the_network_it_names_and_trains_on_images()
    {
        var spec = ModelSpec.FromJson(Cnn);
        Assert.True(spec.IsConvolutional);
        var network = spec.CreateNetwork(3);
        var types = network.Layers.Select(l => l.GetType()).ToArray();
        Assert.Equal(
            [typeof(Cutout), typeof(Conv2D), typeof(BatchNorm), typeof(ReLU), typeof(MaxPool2D), typeof(DropConnectConv2D), typeof(ReLU),
             typeof(SpatialDropout2D), typeof(DropBlock), typeof(AvgPool2D), typeof(Flatten), typeof(DropConnectDense), typeof(LeakyReLU),
             typeof(Dropout), typeof(Dense), typeof(GELU), typeof(GaussianDropout), typeof(Dense)],
            types);
        var conv = (Conv2D)network.Layers[1];
        Assert.Equal(4, conv.Filters);
        Assert.False(conv.UseBias);
        Assert.Equal(DropoutVariant.Classic, ((Dropout)network.Layers[13]).Variant);
        Assert.Equal(DropConnectMaskMode.PerExample, ((DropConnectDense)network.Layers[11]).MaskMode);
        Assert.Equal(0.1f, ((LeakyReLU)network.Layers[12]).Slope);

        var rng = new MLNet.Regularization.Tensors.Rng(3);
        var x = new float[24 * 1 * 8 * 8];
        rng.FillGaussian(x);
        var data = Dataset.ForClassification(x, [1, 8, 8], Enumerable.Range(0, 24).Select(i => i % 3).ToArray(), 3);
        var model = new Trainer(spec.Training.ToTrainerOptions()).Fit(network, data);
        Assert.Equal([3], model.Network.OutputShape.ToArray());
        Assert.True(double.IsFinite(model.History.Epochs[^1].TrainLoss));
    }

    [Fact]
    public void A_layer_list_round_trips_through_json_without_unset_properties()
    {
        var spec = ModelSpec.FromJson(Cnn);
        string json = spec.ToJson();
        Assert.DoesNotContain("\"units\": null", json);
        Assert.Contains("\"padding\": \"same\"", json);
        Assert.Contains("\"padding\": 1", json);
        var back = ModelSpec.FromJson(json);
        Assert.Equal(json, back.ToJson());
        Assert.Equal(spec.Describe(), back.Describe());
        Assert.StartsWith("cutout(4) → conv2d(4, 3, same, false)", spec.Describe());
        Assert.DoesNotContain("layers", new ModelSpec().ToJson());
    }

    [Theory]
    [InlineData("""{ "layers": [ { "type": "conv3d" } ] }""", "layer 1 of 'layers': unknown layer type 'conv3d'; use one of dense,")]
    [InlineData("""{ "layers": [ { "type": "dropout", "rate": 0.5, "units": 3 } ] }""", "layer 1 of 'layers' (dropout): 'units' does not apply to this layer type; dropout takes rate, variant")]
    [InlineData("""{ "layers": [ { "type": "relu", "rate": 0.5 } ] }""", "relu takes no properties")]
    [InlineData("""{ "layers": [ { "type": "dense" } ] }""", "layer 1 of 'layers' (dense): 'units' is required")]
    [InlineData("""{ "layers": [ { "type": "dropout", "rate": 1.5 } ] }""", "layer 1 of 'layers' (dropout):")]
    [InlineData("""{ "layers": [ { "type": "dropout", "rate": 0.5, "variant": "gaussian" } ] }""", "'variant' must be one of inverted, classic, got 'gaussian'")]
    [InlineData("""{ "layers": [ { "type": "conv2d", "filters": 4, "kernel": 3, "padding": "full" } ] }""", "layer 1 of 'layers' (conv2d):")]
    [InlineData("""{ "layers": [ { "type": "conv2d", "filters": 4, "kernel": 3 }, { "type": "dense", "units": 8 } ] }""", "layer 2 of 'layers' (dense) follows convolutional layers: put {\"type\": \"flatten\"}")]
    [InlineData("""{ "layers": [ { "type": "conv2d", "filters": 4, "kernel": 3 }, { "type": "relu" } ] }""", "the output layer (a dense layer added after 'layers') would follow convolutional layers")]
    [InlineData("""{ "layers": [] }""", "'layers' is empty")]
    [InlineData("""{ "hidden": [64], "layers": [ { "type": "dense", "units": 8 } ] }""", "'layers' lists the whole network: leave out 'hidden'")]
    [InlineData("""{ "dropout": 0.5, "layers": [ { "type": "dense", "units": 8 } ] }""", "'layers' lists the whole network")]
    public void Invalid_layer_lists_are_rejected_naming_the_layer_and_property(string json, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => ModelSpec.FromJson(json, "spec.json"));
        Assert.StartsWith("spec.json: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("""{ "layers": [ { "type": "dense", "unitz": 8 } ] }""", "unknown property 'layers[0].unitz'; known properties are type, units,")]
    [InlineData("""{ "layers": [ { "type": "dense", "units": "8" } ] }""", "'layers[0].units' must be an integer or null")]
    [InlineData("""{ "layers": [ { "type": "conv2d", "filters": 4, "kernel": 3, "padding": true } ] }""", "'layers[0].padding' must be")]
    [InlineData("""{ "layers": { "type": "dense" } }""", "'layers' must be an array of layer objects")]
    public void Malformed_layer_json_is_an_invalid_data_error(string json, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelSpec.FromJson(json, "spec.json"));
        Assert.Contains(message, e.Message);
    }
}
