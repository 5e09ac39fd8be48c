using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

/// <summary>Bad input at the trainer's and model's boundary gives typed errors whose message names the problem.</summary>
public class TrainerValidationTests
{
    private static Network Small() => Network.Sequential(new Dense(8), new ReLU(), new Dense(3));

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void Batch_size_must_be_positive(int batchSize)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { BatchSize = batchSize }));
        Assert.Contains("BatchSize", e.Message);
        Assert.Contains(batchSize.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message);
    }

    [Fact]
    public void Other_invalid_options_name_the_setting()
    {
        Assert.Contains("Epochs", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { Epochs = 0 })).Message);
        Assert.Contains("MaxNorm", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { MaxNorm = -1 })).Message);
        Assert.Contains("ValidationFraction", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { ValidationFraction = 1 })).Message);
        Assert.Contains("learning rate", Assert.Throws<ArgumentOutOfRangeException>(() => new Trainer(new TrainerOptions { Optimizer = new Adam { LearningRate = 0 } })).Message);
        Assert.Contains("Nesterov", Assert.Throws<ArgumentException>(() => new Trainer(new TrainerOptions { Optimizer = new Sgd { Nesterov = true } })).Message);
    }

    [Fact]
    public void Early_stopping_without_validation_data_is_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new Trainer(new TrainerOptions { EarlyStoppingPatience = 2 }).Fit(Small(), TestData.Blobs(30, 4, 3, 1)));
        Assert.Contains("validation", e.Message);
    }

    [Fact]
    public void Output_layer_that_does_not_fit_the_classes_is_named()
    {
        var e = Assert.Throws<ArgumentException>(() => new Trainer().Fit(Network.Sequential(new Dense(5)), TestData.Blobs(30, 4, 3, 1)));
        Assert.Contains("3 classes", e.Message);
        Assert.Contains("[5]", e.Message);
    }

    [Fact]
    public void Wrong_feature_count_for_a_built_network_is_named()
    {
        var net = Small().Build([5]);
        var e = Assert.Throws<ArgumentException>(() => new Trainer().Fit(net, TestData.Blobs(30, 4, 3, 1)));
        Assert.Contains("[5]", e.Message);
        Assert.Contains("[4]", e.Message);
    }

    [Fact]
    public void Prediction_input_with_the_wrong_feature_count_or_NaN_is_named()
    {
        var model = new Trainer(new TrainerOptions { Epochs = 1 }).Fit(Small(), TestData.Blobs(30, 4, 3, 1));
        var e = Assert.Throws<ArgumentException>(() => model.PredictProbabilities(new Tensor(2, 5)));
        Assert.Contains("[2, 5]", e.Message);
        Assert.Contains("[N, 4]", e.Message);
        var x = new Tensor(3, 4);
        x.Data[2 * 4 + 1] = float.NaN;
        e = Assert.Throws<ArgumentException>(() => model.PredictProbabilities(x));
        Assert.Contains("row 2", e.Message);
        Assert.Contains("column 1", e.Message);
    }

    [Fact]
    public void Dataset_errors_name_row_and_column()
    {
        var features = new float[3 * 4];
        features[1 * 4 + 3] = float.PositiveInfinity;
        var e = Assert.Throws<ArgumentException>(() => Dataset.ForClassification(features, [4], [0, 1, 2]));
        Assert.Contains("row 1", e.Message);
        Assert.Contains("column 3", e.Message);
        e = Assert.Throws<ArgumentException>(() => Dataset.ForClassification(new float[12], [4], [0, 12, 1], 10));
        Assert.Contains("label 12 in row 1", e.Message);
        Assert.Contains("0..9", e.Message);
        e = Assert.Throws<ArgumentException>(() => Dataset.ForClassification(new float[11], [4], [0, 1, 2]));
        Assert.Contains("11 values", e.Message);
        e = Assert.Throws<ArgumentException>(() => Dataset.ForClassification(Array.Empty<float>(), [4], Array.Empty<int>(), 3));
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Dense_after_image_input_asks_for_Flatten()
    {
        var e = Assert.Throws<ArgumentException>(() => Network.Sequential(new Dense(4)).Build([1, 28, 28]));
        Assert.Contains("Flatten", e.Message);
        Assert.Contains("layer 0", e.Message);
    }

    [Fact]
    public void Reusing_a_layer_instance_is_rejected()
    {
        var relu = new ReLU();
        Assert.Contains("same object", Assert.Throws<ArgumentException>(() => Network.Sequential(new Dense(4), relu, relu)).Message);
    }
}
