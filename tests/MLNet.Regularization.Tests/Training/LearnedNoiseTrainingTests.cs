using MLNet.Regularization.Data;
using MLNet.Regularization.Experiments;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Tensors;
using MLNet.Regularization.Tests.Data;
using MLNet.Regularization.Tests.Layers;
using MLNet.Regularization.Training;
using Xunit;

namespace MLNet.Regularization.Tests.Training;

/// <summary>The learned-noise layers in training runs: reproducibility by seed and thread count on every kernel path,
/// checkpoints that resume bit for bit, what training learns (rates move, KL prunes), the spec names and the errors.</summary>
public sealed class LearnedNoiseTrainingTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static readonly Lazy<Dataset> Data = new(() => TestData.Blobs(150, 12, 3, 21));

    /// <summary>Every learned-noise method in one network.</summary>
    private static Network AllMethods() => Network.Sequential(
        new StructuredBayesianPruning(), new ConcreteDropout(0.2f), new VariationalDense(16, VariationalDropoutGranularity.PerUnit), new ReLU(),
        new StructuredBayesianPruning(), new SparseVariationalDense(14, klWarmupEpochs: 1), new ReLU(), new StandoutDense(12),
        new FastDropoutDense(10, 0.2f), new DropConnectDense(8, 0.3f, inference: DropConnectInference.GaussianMomentMatching, inferenceSamples: 20), new ReLU(),
        new FastDropoutDense(3, 0.1f, FastDropoutActivation.Linear));

    private TrainerOptions Options(int threads = 1, int seed = 5, bool checkpoint = false) => new()
    {
        Epochs = 3, BatchSize = 16, Seed = seed, MaxThreads = threads, Optimizer = new Adam { LearningRate = 0.01f }, CheckpointPath = checkpoint ? _folder.File("run.ckpt") : null,
    };

    [Theory]
    [MemberData(nameof(KernelPathTests.Paths), MemberType = typeof(KernelPathTests))]
    public void Training_is_reproducible_by_seed_and_thread_count_on_every_kernel_path(string path) => KernelPathTests.OnPath(path, () =>
    {
        float[] Train(int threads, int seed) => new Trainer(Options(threads, seed)).Fit(AllMethods(), Data.Value).Network.Parameters.SelectMany(p => p.Value.Data).ToArray();
        var one = Train(1, 7);
        Assert.Equal(one, Train(2, 7));
        Assert.NotEqual(one, Train(1, 8));
    });

    [Fact]
    public void A_cancelled_run_resumes_from_its_checkpoint_bit_for_bit()
    {
        var reference = new Trainer(Options()).Fit(AllMethods(), Data.Value);
        using var cancel = new CancellationTokenSource();
        var trainer = new Trainer(Options(checkpoint: true)) { AfterBatch = (epoch, batch, _) => { if (epoch == 1 && batch == 4) cancel.Cancel(); } };
        Assert.Equal(StopReason.Cancelled, trainer.Fit(AllMethods(), Data.Value, cancellationToken: cancel.Token).History.StopReason);
        var resumed = new Trainer(Options(checkpoint: true)).Resume(_folder.File("run.ckpt"), AllMethods(), Data.Value);
        CheckpointResumeTests.AssertSameWeights(reference.Network, resumed.Network);
        var x = Data.Value.Features;
        Assert.Equal(reference.PredictProbabilities(x), resumed.PredictProbabilities(x));
    }

    [Fact]
    public void Training_moves_the_learned_rates_and_the_KL_prunes()
    {
        var model = new Trainer(new TrainerOptions { Epochs = 30, BatchSize = 16, Seed = 3, Optimizer = new Adam { LearningRate = 0.01f } })
            .Fit(Network.Sequential(new ConcreteDropout(0.3f), new Dense(16), new ReLU(), new SparseVariationalDense(3)), Data.Value);
        var (_, accuracy) = model.Evaluate(Data.Value);
        Assert.True(accuracy > 0.9, $"accuracy {accuracy}");
        var concrete = (ConcreteDropout)model.Network.Layers[0];
        Assert.NotEqual(0.3f, concrete.Rate);
        var sparse = (SparseVariationalDense)model.Network.Layers[3];
        Assert.True(sparse.KeepMask().PrunedCount > 0, "30 epochs of KL on 150 examples should prune some of the output layer");
        Assert.Equal(sparse.KeepMask().KeptCount, NetworkSparsity.PerLayer(model.InferenceNetwork)[1].Remaining);
        var summaries = LearnedNoise.Of(model.Network);
        Assert.Equal([0, 3], summaries.Select(s => s.LayerIndex));
        Assert.Equal(sparse.KeepMask().KeptCount, summaries[1].Summary.WeightsKept);
    }

    [Fact]
    public void Spec_layer_lists_name_every_method()
    {
        var spec = ModelSpec.FromJson("""
            { "layers": [
                { "type": "structured_bayesian_pruning", "threshold": 0.8, "klWarmup": 2, "initialLogSigma": -3 },
                { "type": "concrete_dropout", "rate": 0.2, "temperature": 0.05, "lengthScale": 0.01 },
                { "type": "variational_dense", "units": 16, "granularity": "per_unit", "rate": 0.3, "klWarmup": 1, "init": "glorot_uniform" },
                { "type": "relu" },
                { "type": "sparse_variational_dense", "units": 14, "threshold": 2.5, "maskDuringTraining": false },
                { "type": "relu" },
                { "type": "standout_dense", "units": 12, "activation": "tanh", "alpha": 0.5, "beta": -0.5, "learnTying": false },
                { "type": "fast_dropout_dense", "units": 10, "rate": 0.25, "activation": "sigmoid" },
                { "type": "dropconnect_dense", "units": 8, "rate": 0.3, "inference": "gaussian", "samples": 40 },
                { "type": "relu" } ],
              "training": { "epochs": 2, "batchSize": 16 } }
            """);
        var network = spec.CreateNetwork(3);
        Assert.Equal(["StructuredBayesianPruning", "ConcreteDropout", "VariationalDense", "ReLU", "SparseVariationalDense", "ReLU", "StandoutDense", "FastDropoutDense", "DropConnectDense", "ReLU", "Dense"],
            network.Layers.Select(l => l.Name));
        Assert.Equal((0.8f, -3f), (((StructuredBayesianPruning)network.Layers[0]).Threshold, ((StructuredBayesianPruning)network.Layers[0]).InitialLogSigma));
        Assert.Equal(0.05f, ((ConcreteDropout)network.Layers[1]).Temperature);
        Assert.Equal(VariationalDropoutGranularity.PerUnit, ((VariationalDense)network.Layers[2]).Granularity);
        Assert.False(((SparseVariationalDense)network.Layers[4]).MaskDuringTraining);
        Assert.IsType<Tanh>(((StandoutDense)network.Layers[6]).Activation);
        Assert.Equal(FastDropoutActivation.Sigmoid, ((FastDropoutDense)network.Layers[7]).Activation);
        Assert.Equal((DropConnectInference.GaussianMomentMatching, 40), (((DropConnectDense)network.Layers[8]).Inference, ((DropConnectDense)network.Layers[8]).InferenceSamples));
        var model = new Trainer(spec.Training.ToTrainerOptions()).Fit(network, Data.Value);
        Assert.Contains("DropConnectGaussianInference", model.InferenceNetwork.Layers.Select(l => l.Name));

        var conv = new LayerSpec { Type = "dropconnect_conv2d", Filters = 4, Kernel = 3, Rate = 0.2f, Granularity = "kernel_slice" };
        Assert.Equal(DropConnectKernelGranularity.KernelSlice, ((DropConnectConv2D)conv.Create()).Granularity);
    }

    [Fact]
    public void Bad_settings_get_errors_that_name_them()
    {
        Assert.Contains("'granularity' must be one of per_layer, per_unit, per_weight", Assert.Throws<ArgumentException>(() =>
            new LayerSpec { Type = "variational_dense", Units = 4, Granularity = "per_filter" }.Validate("layer 2")).Message);
        Assert.Contains("'threshold' does not apply", Assert.Throws<ArgumentException>(() => new LayerSpec { Type = "concrete_dropout", Threshold = 1 }.Validate()).Message);
        Assert.Contains("initial rate must be in (0, 0.5)", Assert.Throws<ArgumentException>(() => new LayerSpec { Type = "variational_dense", Units = 4, Rate = 0.6f }.Validate()).Message);
        Assert.Contains("temperature must be positive", Assert.Throws<ArgumentOutOfRangeException>(() => new ConcreteDropout(temperature: 0f)).Message);
        Assert.Contains("inside the clipping range", Assert.Throws<ArgumentOutOfRangeException>(() => new SparseVariationalDense(4, threshold: 9f)).Message);
        Assert.Contains("KL warm-up must be 0 or more", Assert.Throws<ArgumentOutOfRangeException>(() => new StructuredBayesianPruning(klWarmupEpochs: -1)).Message);
        Assert.Contains("initial log σ must be in [-20, 5], got 6", Assert.Throws<ArgumentOutOfRangeException>(() => new StructuredBayesianPruning(initialLogSigma: 6f)).Message);
        Assert.Contains("between 1 and 100,000", Assert.Throws<ArgumentOutOfRangeException>(() => new DropConnectDense(4, 0.2f, inferenceSamples: 0)).Message);
        Assert.Contains("fresh activation", Assert.Throws<ArgumentException>(() =>
        {
            var relu = new ReLU();
            Network.Sequential(new Dense(3), relu).Build([2]);
            return new StandoutDense(3, relu);
        }).Message);

        // Structured Bayesian pruning needs a layer after it to fold E[θ] into.
        var e = Assert.Throws<ArgumentException>(() => Network.Sequential(new Dense(4), new Tanh(), new StructuredBayesianPruning(), new BatchNorm(), new Dense(2)).Build([3]));
        Assert.Contains("layer 2 (StructuredBayesianPruning) must be followed by a Dense, Conv2D", e.Message);
        Assert.Contains("nothing to prune", Assert.Throws<ArgumentException>(() => BayesianPruning.Shrink(Network.Sequential(new Dense(2)).Build([3]))).Message);
        Assert.Contains("put it before any Flatten", Assert.Throws<NotSupportedException>(() =>
            BayesianPruning.SelectUnits(Network.Sequential(new Conv2D(2, 3), new Flatten(), new StructuredBayesianPruning(), new Dense(2)).Build([1, 4, 4]))).Message);
        Assert.Contains("inference layer", Assert.Throws<InvalidOperationException>(() =>
        {
            var layer = new DropConnectGaussianInference(2, 0.3f, 5, new ReLU());
            layer.Build([3], new Rng(0));
            return layer.Forward(new Tensor(1, 3), GradientCheck.TrainContext());
        }).Message);
    }
}
