using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using MLNet.Regularization.Layers;

namespace MLNet.Regularization.Experiments;

/// <summary>
/// One layer of a <see cref="ModelSpec.Layers"/> list, as data: <c>{ "type": "conv2d", "filters": 32, "kernel": 3,
/// "padding": "same" }</c>. The list describes any sequential network the engine builds — convolutional ones
/// included — for the CLI's JSON spec and the ML.NET adapter's options; the output layer (a Dense sized from the
/// data) is added after it.
/// </summary>
/// <remarks>
/// <para>Types and the properties each takes (the rest must be left out):</para>
/// <list type="table">
/// <item><term>dense</term><description>units, init, useBias</description></item>
/// <item><term>dropconnect_dense</term><description>units, rate, maskMode (per_mini_batch | per_example), init, inference
/// (expected_weights | gaussian: Wan et al.'s moment matching through the activation that follows), samples (Z, default 100)</description></item>
/// <item><term>conv2d</term><description>filters, kernel, stride, padding ("same", "valid" or pixels), dilation, useBias, init</description></item>
/// <item><term>dropconnect_conv2d</term><description>filters, kernel, rate, stride, padding, dilation, useBias, init, granularity
/// (weight | kernel_slice | filter: what one mask draw drops)</description></item>
/// <item><term>maxpool2d, avgpool2d</term><description>pool, stride, padding</description></item>
/// <item><term>max_pooling_dropout</term><description>rate, pool, stride, padding, inference (weighted | max)</description></item>
/// <item><term>global_avg_pool, flatten</term><description>nothing</description></item>
/// <item><term>batchnorm</term><description>momentum, epsilon</description></item>
/// <item><term>relu, tanh, sigmoid, gelu</term><description>nothing; leaky_relu: slope</description></item>
/// <item><term>dropout</term><description>rate, variant (inverted | classic)</description></item>
/// <item><term>gaussian_dropout, spatial_dropout2d</term><description>rate</description></item>
/// <item><term>cutout</term><description>size, count, probability, fill</description></item>
/// <item><term>dropblock</term><description>rate, blockSize, shareMaskAcrossChannels</description></item>
/// <item><term>maxdrop</term><description>rate, mode (feature_wise | channel_wise)</description></item>
/// <item><term>fast_dropout_dense</term><description>units, rate; activation (relu | sigmoid | linear), init: fast dropout
/// (Wang &amp; Manning)</description></item>
/// <item><term>variational_dense</term><description>units; granularity (per_layer | per_unit | per_weight), rate (the initial
/// rate, default 0.2), klWarmup (epochs), init: variational dropout with learned α (Kingma et al.)</description></item>
/// <item><term>sparse_variational_dense</term><description>units; threshold (log α, default 3), klWarmup, maskDuringTraining,
/// init: sparse variational dropout (Molchanov et al.)</description></item>
/// <item><term>concrete_dropout</term><description>rate (initial, default 0.1), temperature (default 0.1), lengthScale
/// (default 1e-4): a learned dropout rate (Gal et al.)</description></item>
/// <item><term>standout_dense</term><description>units; activation (relu | leaky_relu | tanh | sigmoid | gelu), alpha, beta,
/// learnTying (default true), init: adaptive dropout (Ba &amp; Frey)</description></item>
/// <item><term>structured_bayesian_pruning</term><description>threshold (SNR, default 1), klWarmup, initialLogSigma (default −5): log-normal noise per unit
/// or channel (Neklyudov et al.); must be followed by a dense or convolution layer</description></item>
/// <item><term>reshape</term><description>shape (per example, such as [28, 28] to read a flat 784-vector as 28 steps of 28)</description></item>
/// <item><term>embedding</term><description>vocabulary, dimension, rate (embedding dropout of whole word types per sequence)</description></item>
/// <item><term>lstm, gru</term><description>units, returnSequences, bidirectional; the recurrent dropout family: inputDropout and
/// outputDropout (non-recurrent, per step: Zaremba et al.), variationalInput, variationalRecurrent and variationalOutput
/// (per sequence: Gal &amp; Ghahramani), candidateDropout with candidateSampling (per_step | per_sequence: Semeniuta et
/// al.), weightDrop (AWD-LSTM), zoneoutHidden; the lstm also rnnDrop (Moon et al.) and zoneoutCell (Krueger et al.)</description></item>
/// </list>
/// <para>A dense layer after convolutional layers needs a <c>flatten</c> (or <c>global_avg_pool</c>) in between, as in
/// Keras; so does the output layer.</para>
/// </remarks>
public sealed class LayerSpec
{
    /// <summary>The options of both recurrent layer types.</summary>
    private static readonly string[] RecurrentOptions =
        ["returnSequences", "bidirectional", "inputDropout", "outputDropout", "variationalInput", "variationalRecurrent", "variationalOutput", "candidateDropout", "candidateSampling", "weightDrop", "zoneoutHidden"];

    /// <summary>What each type takes: its required and optional properties (camelCase, as in JSON).</summary>
    private static readonly Dictionary<string, (string[] Required, string[] Optional, LayerShape Shape)> Kinds = new(StringComparer.Ordinal)
    {
        ["dense"] = (["units"], ["init", "useBias"], LayerShape.Flat),
        ["dropconnect_dense"] = (["units", "rate"], ["maskMode", "init", "inference", "samples"], LayerShape.Flat),
        ["conv2d"] = (["filters", "kernel"], ["stride", "padding", "dilation", "useBias", "init"], LayerShape.Image),
        ["dropconnect_conv2d"] = (["filters", "kernel", "rate"], ["stride", "padding", "dilation", "useBias", "init", "granularity"], LayerShape.Image),
        ["maxpool2d"] = ([], ["pool", "stride", "padding"], LayerShape.Image),
        ["avgpool2d"] = ([], ["pool", "stride", "padding"], LayerShape.Image),
        ["max_pooling_dropout"] = (["rate"], ["pool", "stride", "padding", "inference"], LayerShape.Image),
        ["global_avg_pool"] = ([], [], LayerShape.Flattens),
        ["flatten"] = ([], [], LayerShape.Flattens),
        ["batchnorm"] = ([], ["momentum", "epsilon"], LayerShape.Any),
        ["relu"] = ([], [], LayerShape.Any),
        ["leaky_relu"] = ([], ["slope"], LayerShape.Any),
        ["tanh"] = ([], [], LayerShape.Any),
        ["sigmoid"] = ([], [], LayerShape.Any),
        ["gelu"] = ([], [], LayerShape.Any),
        ["dropout"] = (["rate"], ["variant"], LayerShape.Any),
        ["gaussian_dropout"] = (["rate"], [], LayerShape.Any),
        ["spatial_dropout2d"] = (["rate"], [], LayerShape.Image),
        ["cutout"] = (["size"], ["count", "probability", "fill"], LayerShape.Image),
        ["dropblock"] = (["rate"], ["blockSize", "shareMaskAcrossChannels"], LayerShape.Image),
        ["maxdrop"] = (["rate"], ["mode"], LayerShape.Any),
        ["fast_dropout_dense"] = (["units", "rate"], ["activation", "init"], LayerShape.Flat),
        ["variational_dense"] = (["units"], ["granularity", "rate", "klWarmup", "init"], LayerShape.Flat),
        ["sparse_variational_dense"] = (["units"], ["threshold", "klWarmup", "maskDuringTraining", "init"], LayerShape.Flat),
        ["concrete_dropout"] = ([], ["rate", "temperature", "lengthScale"], LayerShape.Any),
        ["standout_dense"] = (["units"], ["activation", "alpha", "beta", "learnTying", "init"], LayerShape.Flat),
        ["structured_bayesian_pruning"] = ([], ["threshold", "klWarmup", "initialLogSigma"], LayerShape.Any),
        ["reshape"] = (["shape"], [], LayerShape.Any),
        ["embedding"] = (["vocabulary", "dimension"], ["rate"], LayerShape.Any),
        ["lstm"] = (["units"], [.. RecurrentOptions, "rnnDrop", "zoneoutCell"], LayerShape.Any),
        ["gru"] = (["units"], RecurrentOptions, LayerShape.Any),
    };

    /// <summary>How a layer type relates to image-shaped ([C, H, W]) activations.</summary>
    private enum LayerShape
    {
        /// <summary>Works on any shape.</summary>
        Any,

        /// <summary>Needs flat [D] input (dense layers).</summary>
        Flat,

        /// <summary>Works on [C, H, W] and keeps it.</summary>
        Image,

        /// <summary>Turns [C, H, W] into a flat vector.</summary>
        Flattens,
    }

    /// <summary>The layer types a spec may name.</summary>
    public static IReadOnlyList<string> Types { get; } = [.. Kinds.Keys];

    /// <summary>The layer type, such as <c>conv2d</c>, <c>dropout</c> or <c>dense</c> (see the remarks).</summary>
    public string Type { get; set; } = "";

    /// <summary>Units of a dense layer.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Units { get; set; }

    /// <summary>Output channels of a convolution.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Filters { get; set; }

    /// <summary>Side of a square convolution kernel.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Kernel { get; set; }

    /// <summary>Stride of a convolution (default 1) or pooling window (default the window).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Stride { get; set; }

    /// <summary>Padding: "same", "valid" (the default) or a number of pixels (a JSON number or string).</summary>
    [JsonConverter(typeof(NumberOrStringConverter))]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Padding { get; set; }

    /// <summary>Dilation of a convolution (default 1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Dilation { get; set; }

    /// <summary>Whether a dense or convolution layer has a bias (default true).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? UseBias { get; set; }

    /// <summary>Weight initialization: he_uniform (default), he_normal, glorot_uniform or glorot_normal.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Init { get; set; }

    /// <summary>Side of a square pooling window (default 2).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Pool { get; set; }

    /// <summary>The drop rate of a dropout-like layer, in [0, 1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Rate { get; set; }

    /// <summary>Dropout variant: inverted (default) or classic.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Variant { get; set; }

    /// <summary>DropConnect mask: per_mini_batch (default) or per_example.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? MaskMode { get; set; }

    /// <summary>Inference rule: max-pooling dropout's weighted (default, not exportable to ONNX) or max; DropConnect's
    /// expected_weights (default) or gaussian (moment matching).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Inference { get; set; }

    /// <summary>Gaussian samples per unit of DropConnect's moment-matching inference (default 100).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Samples { get; set; }

    /// <summary>What one draw covers or shares: DropConnectConv2D's weight (default), kernel_slice or filter; variational
    /// dropout's α per_layer, per_unit or per_weight (default).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Granularity { get; set; }

    /// <summary>The activation of a fast dropout layer (relu, default; sigmoid; linear) or a Standout layer (relu, default;
    /// leaky_relu, tanh, sigmoid, gelu).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Activation { get; set; }

    /// <summary>Epochs over which a variational layer's KL weight rises linearly from 0 to 1 (default 0).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? KlWarmup { get; set; }

    /// <summary>Pruning threshold: sparse variational dropout's log α (default 3), structured Bayesian pruning's
    /// signal-to-noise ratio (default 1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Threshold { get; set; }

    /// <summary>Structured Bayesian pruning's starting log σ (default −5).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? InitialLogSigma { get; set; }

    /// <summary>Sparse variational dropout leaves the weights over the threshold out of training too (default true).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? MaskDuringTraining { get; set; }

    /// <summary>Concrete dropout's relaxation temperature (default 0.1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Temperature { get; set; }

    /// <summary>Concrete dropout's prior length scale (default 1e-4).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? LengthScale { get; set; }

    /// <summary>Standout's belief-network scale α (default 1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Alpha { get; set; }

    /// <summary>Standout's belief-network shift β (default 0).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Beta { get; set; }

    /// <summary>Standout learns α and β (default true).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? LearnTying { get; set; }

    /// <summary>Max-drop's mode: feature_wise (default) or channel_wise.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Mode { get; set; }

    /// <summary>Batch norm's momentum (default 0.1, the weight of the new batch).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Momentum { get; set; }

    /// <summary>Batch norm's epsilon (default 1e-5).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Epsilon { get; set; }

    /// <summary>Leaky ReLU's slope for negative inputs (default 0.01).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Slope { get; set; }

    /// <summary>Cutout's square hole side in pixels.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Size { get; set; }

    /// <summary>Cutout's number of holes (default 1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Count { get; set; }

    /// <summary>Cutout's probability of cutting an example (default 1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Probability { get; set; }

    /// <summary>Cutout's fill value (default 0).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? Fill { get; set; }

    /// <summary>DropBlock's block side (default 3).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? BlockSize { get; set; }

    /// <summary>DropBlock: one mask for all channels of an example (default false).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? ShareMaskAcrossChannels { get; set; }

    /// <summary>Per-example shape of a reshape layer, such as [28, 28].</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int[]? Shape { get; set; }

    /// <summary>Vocabulary size of an embedding (token ids 0..vocabulary−1).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Vocabulary { get; set; }

    /// <summary>Vector size of an embedding.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Dimension { get; set; }

    /// <summary>A recurrent layer outputs every step ([T, H], to stack another recurrent layer) instead of the last (default false).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? ReturnSequences { get; set; }

    /// <summary>Non-recurrent dropout of a recurrent layer's input, a fresh mask per step (Zaremba et al.).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? InputDropout { get; set; }

    /// <summary>Non-recurrent dropout of a recurrent layer's output, a fresh mask per step (Zaremba et al.).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? OutputDropout { get; set; }

    /// <summary>Variational dropout of the input, one mask per sequence (Gal &amp; Ghahramani).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? VariationalInput { get; set; }

    /// <summary>Variational dropout of the recurrent state, one mask per sequence (Gal &amp; Ghahramani).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? VariationalRecurrent { get; set; }

    /// <summary>Variational dropout of the output, one mask per sequence (Gal &amp; Ghahramani).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? VariationalOutput { get; set; }

    /// <summary>RNNDrop: the LSTM memory cell dropped for a whole sequence (Moon et al.).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? RnnDrop { get; set; }

    /// <summary>Recurrent dropout without memory loss: dropout on the candidate update (Semeniuta et al.).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? CandidateDropout { get; set; }

    /// <summary>The candidate dropout's mask: per_step (default) or per_sequence.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? CandidateSampling { get; set; }

    /// <summary>Weight drop: DropConnect on the recurrent weights, one mask per mini-batch (AWD-LSTM).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? WeightDrop { get; set; }

    /// <summary>Zoneout of the LSTM memory cell: probability of keeping the previous value (Krueger et al.).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? ZoneoutCell { get; set; }

    /// <summary>Zoneout of the hidden state: probability of keeping the previous value (Krueger et al.).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public float? ZoneoutHidden { get; set; }

    /// <summary>Checks the type and its properties; throws <see cref="ArgumentException"/> naming
    /// <paramref name="where"/> (such as "layer 3") and the offending property.</summary>
    /// <param name="where">How to name this layer in a message.</param>
    public void Validate(string where = "layer")
    {
        string type = Type ?? "";
        if (!Kinds.TryGetValue(type, out var kind))
        {
            throw new ArgumentException($"{where}: unknown layer type '{type}'; use one of {string.Join(", ", Kinds.Keys)}.", nameof(Type));
        }

        var set = SetProperties().ToList();
        foreach (string name in set)
        {
            if (!kind.Required.Contains(name) && !kind.Optional.Contains(name))
            {
                string takes = kind.Required.Length + kind.Optional.Length == 0 ? "takes no properties" : $"takes {string.Join(", ", kind.Required.Concat(kind.Optional))}";
                throw new ArgumentException($"{where} ({type}): '{name}' does not apply to this layer type; {type} {takes}.", name);
            }
        }

        foreach (string name in kind.Required)
        {
            if (!set.Contains(name))
            {
                throw new ArgumentException($"{where} ({type}): '{name}' is required.", name);
            }
        }

        try
        {
            _ = Create();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{where} ({type}): {ModelSpec.WithoutParameterName(e)}", e.ParamName, e);
        }
    }

    /// <summary>A new, unbuilt layer with these settings.</summary>
    public Layer Create()
    {
        var init = ParseInit(Init);
        Padding2D padding = Padding is null ? Padding2D.Valid : Padding2D.Parse(Padding);
        return Type switch
        {
            "dense" => new Dense(Units!.Value, init, UseBias ?? true),
            "dropconnect_dense" => new DropConnectDense(Units!.Value, Rate!.Value, ParseChoice(MaskMode, "maskMode", DropConnectMaskMode.PerMiniBatch, ("per_mini_batch", DropConnectMaskMode.PerMiniBatch), ("per_example", DropConnectMaskMode.PerExample)), init,
                ParseChoice(Inference, "inference", DropConnectInference.ExpectedWeights, ("expected_weights", DropConnectInference.ExpectedWeights), ("gaussian", DropConnectInference.GaussianMomentMatching)),
                Samples ?? DropConnectGaussianInference.DefaultSamples),
            "conv2d" => new Conv2D(Filters!.Value, Kernel!.Value, Stride ?? 1, padding, Dilation ?? 1, UseBias ?? true, init),
            "dropconnect_conv2d" => new DropConnectConv2D(Filters!.Value, Kernel!.Value, Rate!.Value, Stride ?? 1, padding, Dilation ?? 1, UseBias ?? true, init,
                ParseChoice(Granularity, "granularity", DropConnectKernelGranularity.Weight, ("weight", DropConnectKernelGranularity.Weight), ("kernel_slice", DropConnectKernelGranularity.KernelSlice), ("filter", DropConnectKernelGranularity.Filter))),
            "maxpool2d" => new MaxPool2D(Pool ?? 2, Stride, padding),
            "avgpool2d" => new AvgPool2D(Pool ?? 2, Stride, padding),
            "max_pooling_dropout" => new MaxPoolingDropout(Rate!.Value, Pool ?? 2, Stride, padding, ParseChoice(Inference, "inference", MaxPoolingDropoutInference.ProbabilisticWeighted, ("weighted", MaxPoolingDropoutInference.ProbabilisticWeighted), ("max", MaxPoolingDropoutInference.Max))),
            "global_avg_pool" => new GlobalAveragePool(),
            "flatten" => new Flatten(),
            "batchnorm" => new BatchNorm(Momentum ?? 0.1f, Epsilon ?? 1e-5f),
            "relu" => new ReLU(),
            "leaky_relu" => new LeakyReLU(Slope ?? 0.01f),
            "tanh" => new Tanh(),
            "sigmoid" => new Sigmoid(),
            "gelu" => new GELU(),
            "dropout" => new Layers.Dropout(Rate!.Value, ParseChoice(Variant, "variant", DropoutVariant.Inverted, ("inverted", DropoutVariant.Inverted), ("classic", DropoutVariant.Classic))),
            "gaussian_dropout" => new GaussianDropout(Rate!.Value),
            "spatial_dropout2d" => new SpatialDropout2D(Rate!.Value),
            "cutout" => new Cutout(Size!.Value, Count ?? 1, Probability ?? 1f, Fill ?? 0f),
            "dropblock" => new DropBlock(Rate!.Value, BlockSize ?? 3, ShareMaskAcrossChannels ?? false),
            "maxdrop" => new MaxDrop(Rate!.Value, ParseChoice(Mode, "mode", MaxDropMode.FeatureWise, ("feature_wise", MaxDropMode.FeatureWise), ("channel_wise", MaxDropMode.ChannelWise))),
            "fast_dropout_dense" => new FastDropoutDense(Units!.Value, Rate!.Value,
                ParseChoice(Activation, "activation", FastDropoutActivation.ReLU, ("relu", FastDropoutActivation.ReLU), ("sigmoid", FastDropoutActivation.Sigmoid), ("linear", FastDropoutActivation.Linear)), init),
            "variational_dense" => new VariationalDense(Units!.Value,
                ParseChoice(Granularity, "granularity", VariationalDropoutGranularity.PerWeight, ("per_layer", VariationalDropoutGranularity.PerLayer), ("per_unit", VariationalDropoutGranularity.PerUnit), ("per_weight", VariationalDropoutGranularity.PerWeight)),
                Rate ?? 0.2f, KlWarmup ?? 0, init),
            "sparse_variational_dense" => new SparseVariationalDense(Units!.Value, Threshold ?? 3f, KlWarmup ?? 0, MaskDuringTraining ?? true, init),
            "concrete_dropout" => new ConcreteDropout(Rate ?? 0.1f, Temperature ?? 0.1f, LengthScale ?? 1e-4f),
            "standout_dense" => new StandoutDense(Units!.Value, StandoutActivation(), Alpha ?? 1f, Beta ?? 0f, LearnTying ?? true, init),
            "structured_bayesian_pruning" => new StructuredBayesianPruning(Threshold ?? 1f, KlWarmup ?? 0, InitialLogSigma ?? -5f),
            "reshape" => new Reshape(Shape!),
            "embedding" => new Embedding(Vocabulary!.Value, Dimension!.Value, Rate ?? 0f),
            "lstm" => BothWays(new LSTM(Units!.Value, ReturnSequences ?? false, RecurrentRegularizers())),
            "gru" => BothWays(new GRU(Units!.Value, ReturnSequences ?? false, RecurrentRegularizers())),
            _ => throw new ArgumentException($"unknown layer type '{Type}'; use one of {string.Join(", ", Kinds.Keys)}.", nameof(Type)),
        };
    }

    /// <summary>The activation a Standout layer names.</summary>
    private Layers.Activation StandoutActivation() => ParseChoice<Func<Layers.Activation>>(Activation, "activation", () => new ReLU(),
        ("relu", () => new ReLU()), ("leaky_relu", () => new LeakyReLU()), ("tanh", () => new Tanh()), ("sigmoid", () => new Sigmoid()), ("gelu", () => new GELU()))();

    /// <summary>Read the sequence both ways (a second reader on the reversed sequence, states concatenated: 2H per step).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Bidirectional { get; set; }

    private Layer BothWays(RecurrentLayer layer) => Bidirectional == true ? new Layers.Bidirectional(layer) : layer;

    /// <summary>The recurrent regularizers the set properties ask for, one per method.</summary>
    private RecurrentRegularizer[] RecurrentRegularizers()
    {
        var list = new List<RecurrentRegularizer>();
        if (InputDropout is not null || OutputDropout is not null)
        {
            list.Add(new NonRecurrentDropout(InputDropout ?? 0f, OutputDropout ?? 0f));
        }

        if (VariationalInput is not null || VariationalRecurrent is not null || VariationalOutput is not null)
        {
            list.Add(new VariationalRecurrentDropout(VariationalInput ?? 0f, VariationalRecurrent ?? 0f, VariationalOutput ?? 0f));
        }

        if (RnnDrop is float rnnDrop)
        {
            list.Add(new Layers.RnnDrop(rnnDrop));
        }

        if (CandidateDropout is float candidate)
        {
            var sampling = ParseChoice(CandidateSampling, "candidateSampling", RecurrentMaskSampling.PerStep, ("per_step", RecurrentMaskSampling.PerStep), ("per_sequence", RecurrentMaskSampling.PerSequence));
            list.Add(new RecurrentDropoutWithoutMemoryLoss(candidate, sampling));
        }
        else if (CandidateSampling is not null)
        {
            throw new ArgumentException("'candidateSampling' needs 'candidateDropout'.", nameof(CandidateSampling));
        }

        if (WeightDrop is float weightDrop)
        {
            list.Add(new Layers.WeightDrop(weightDrop));
        }

        if (ZoneoutCell is not null || ZoneoutHidden is not null)
        {
            list.Add(new Zoneout(ZoneoutCell ?? 0f, ZoneoutHidden ?? 0f));
        }

        return [.. list];
    }

    /// <summary>Checks a whole list: each layer, and that dense layers (and the output layer that follows the list)
    /// never take image-shaped input without a flatten in between.</summary>
    /// <param name="layers">The list.</param>
    internal static void ValidateList(IReadOnlyList<LayerSpec> layers)
    {
        if (layers.Count == 0)
        {
            throw new ArgumentException("'layers' is empty: list at least one layer, or leave 'layers' out for a multilayer perceptron built from 'hidden'.", "layers");
        }

        bool image = false;
        for (int i = 0; i < layers.Count; i++)
        {
            string where = $"layer {i + 1} of 'layers'";
            if (layers[i] is null)
            {
                throw new ArgumentException($"{where} is null.", "layers");
            }

            layers[i].Validate(where);
            var shape = layers[i].Type == "reshape" ? (layers[i].Shape!.Length == 3 ? LayerShape.Image : LayerShape.Flattens) : Kinds[layers[i].Type].Shape;
            if (shape == LayerShape.Flat && image)
            {
                throw new ArgumentException($"{where} ({layers[i].Type}) follows convolutional layers: put {{\"type\": \"flatten\"}} (or global_avg_pool) before it.", "layers");
            }

            image = shape switch
            {
                LayerShape.Image => true,
                LayerShape.Flattens or LayerShape.Flat => false,
                _ => image,
            };
        }

        if (image)
        {
            throw new ArgumentException("the output layer (a dense layer added after 'layers') would follow convolutional layers: end the list with {\"type\": \"flatten\"} or {\"type\": \"global_avg_pool\"} (and any dense layers after it).", "layers");
        }
    }

    /// <summary>True when the list has layers that work on images ([C, H, W] input).</summary>
    internal static bool IsConvolutional(IReadOnlyList<LayerSpec> layers) => layers.Any(l => l is not null && Kinds.TryGetValue(l.Type, out var k) && k.Shape == LayerShape.Image);

    /// <summary>A short description, such as <c>conv2d(32, 3, same)</c> or <c>dropout(0.5)</c>.</summary>
    public string Describe()
    {
        var parts = new List<string>();
        foreach (string name in SetProperties())
        {
            object? value = typeof(LayerSpec).GetProperty(char.ToUpperInvariant(name[0]) + name[1..])!.GetValue(this);
            parts.Add(value is int[] sizes ? string.Join("x", sizes) : Convert.ToString(value, CultureInfo.InvariantCulture)!.ToLowerInvariant());
        }

        return parts.Count == 0 ? Type : $"{Type}({string.Join(", ", parts)})";
    }

    /// <summary>A copy.</summary>
    public LayerSpec Clone() => (LayerSpec)MemberwiseClone();

    /// <summary>The camelCase names of the properties that are set (not null), in declaration order.</summary>
    private IEnumerable<string> SetProperties() =>
        typeof(LayerSpec).GetProperties()
            .Where(p => p.Name != nameof(Type) && p.CanWrite && p.GetValue(this) is not null)
            .Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name));

    private static WeightInit ParseInit(string? init) => ParseChoice(init, "init", WeightInit.HeUniform,
        ("he_uniform", WeightInit.HeUniform), ("he_normal", WeightInit.HeNormal), ("glorot_uniform", WeightInit.GlorotUniform), ("glorot_normal", WeightInit.GlorotNormal));

    private static T ParseChoice<T>(string? value, string name, T fallback, params (string Name, T Value)[] choices)
    {
        if (value is null)
        {
            return fallback;
        }

        foreach (var (choice, result) in choices)
        {
            if (string.Equals(value, choice, StringComparison.OrdinalIgnoreCase))
            {
                return result;
            }
        }

        throw new ArgumentException($"'{name}' must be one of {string.Join(", ", choices.Select(c => c.Name))}, got '{value}'.", name);
    }

    /// <summary>Reads a JSON number or string into a string (padding may be written 1 or "same").</summary>
    private sealed class NumberOrStringConverter : JsonConverter<string?>
    {
        public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString(),
            JsonTokenType.Number when reader.TryGetInt32(out int pixels) => pixels.ToString(CultureInfo.InvariantCulture),
            JsonTokenType.Null => null,
            _ => throw new JsonException("padding must be \"same\", \"valid\" or a whole number of pixels."),
        };

        public override void Write(Utf8JsonWriter writer, string? value, JsonSerializerOptions options)
        {
            if (value is null)
            {
                writer.WriteNullValue();
            }
            else if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int pixels))
            {
                writer.WriteNumberValue(pixels);
            }
            else
            {
                writer.WriteStringValue(value);
            }
        }
    }
}
