using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Transforms;
using MLNet.Regularization.Data;
using MLNet.Regularization.Pruning;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// Trains a regularized network on an IDataView (multiclass, binary or regression), as ML.NET's own trainers do:
/// in the caller's MLContext (its seed, its log, its cancellation). <see cref="Fit(IDataView)"/> streams the features
/// column to the engine's <see cref="Trainer"/> through row cursors (one pass per epoch, shuffled through a bounded
/// buffer, <see cref="RegularizedNetworkOptions.ShuffleBufferSize"/>; only the labels are held in memory), trains
/// natively in C#, exports the model to ONNX in memory and returns a <see cref="RegularizedNetworkTransformer"/>
/// producing ML.NET's conventional columns: multiclass <c>Score</c> (class probabilities, in the label's key order)
/// and <c>PredictedLabel</c> (the label's key type), binary <c>Score</c> (logit), <c>Probability</c> and
/// <c>PredictedLabel</c> (Boolean), regression <c>Score</c>.
/// </summary>
public sealed class RegularizedNetworkEstimator : IEstimator<RegularizedNetworkTransformer>
{
    private const string Component = "RegularizedNetwork";

    private readonly MLContextBridge _context;
    private readonly RegularizedNetworkOptions _options;

    internal RegularizedNetworkEstimator(MLContextBridge context, RegularizedNetworkOptions options, TaskKind task)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _context = context;
        _options = options;
        Task = task;
    }

    /// <summary>The learning task this estimator trains for.</summary>
    public TaskKind Task { get; }

    /// <summary>The options this estimator trains with.</summary>
    public RegularizedNetworkOptions Options => _options;

    /// <summary>Trains on <paramref name="input"/>, validating on <see cref="RegularizedNetworkOptions.ValidationData"/>
    /// when it is set.</summary>
    public RegularizedNetworkTransformer Fit(IDataView input) => Fit(input, _options.ValidationData);

    /// <summary>
    /// Trains on <paramref name="trainData"/> and scores <paramref name="validationData"/> after every epoch (early
    /// stopping, history), as ML.NET's <c>Fit(trainData, validationData)</c> trainers do. The validation rows may be
    /// transformed like the training rows, or raw pipeline input: when they have the columns of the rows the pipeline
    /// started from (the source of <paramref name="trainData"/>'s fitted transforms), they are run through those
    /// transforms first.
    /// </summary>
    public RegularizedNetworkTransformer Fit(IDataView trainData, IDataView? validationData)
    {
        ArgumentNullException.ThrowIfNull(trainData);
        var (featureColumn, _) = DataViewReader.FeatureColumn(trainData.Schema, _options.FeatureColumnName);
        var labelColumn = DataViewReader.LabelColumn(trainData.Schema, _options.LabelColumnName, Task);
        int[] shape = InputLayout.Resolve(featureColumn, _options.InputShape, _options.IsConvolutional);
        // The rows are streamed to the trainer (row cursors, one per epoch), not copied: only the labels are held.
        using var train = DataViewSource.Create(trainData, _options.FeatureColumnName, _options.LabelColumnName, Task, shape);
        using var validation = validationData is null ? null : ReadValidation(trainData, validationData, labelColumn, shape);

        int seed = _options.Seed ?? _context.DrawSeed(Component);
        int outputs = Task == TaskKind.Multiclass ? train.ClassCount : 1;
        var trainerOptions = _options.ToTrainerOptions(seed);
        using var channel = _context.StartChannel(Component);
        channel.Info(MessageSensitivity.None, Invariant($"training {Task.ToString().ToLowerInvariant()} network on {train.Count:N0} rows ({Shape(shape)} features{(validation is null ? "" : $", {validation.Count:N0} validation rows")}), seed {seed}: {trainerOptions.Describe()}"));
        // The MLContext's cancellation is a flag, not a token: it is looked at after every epoch (so a cancellation
        // made while an epoch runs stops training before the next one, whatever the machine's load) and every 50 ms
        // by a timer (so a long epoch stops within a mini-batch of it).
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(_options.CancellationToken);
        var progress = new EpochLog(channel, trainerOptions.Epochs, _options.Progress, () => CancelIf(_context, cancellation));
        using var watch = new Timer(_ => CancelIf(_context, cancellation), null, 0, 50);
        var model = _options.PruningRounds > 0
            ? FitTicket(trainerOptions, outputs, DataViewReader.ToDataset(train), validation is null ? null : DataViewReader.ToDataset(validation), progress, channel, cancellation.Token)
            : new Trainer(trainerOptions).Fit(_options.BuildNetwork(outputs), train, validation, progress, cancellation.Token);
        if (cancellation.IsCancellationRequested || model is null || model.History.StopReason == StopReason.Cancelled)
        {
            string after = model is null ? "during the dense round" : Invariant($"after {model.History.Epochs.Count} epoch(s)");
            channel.Info(MessageSensitivity.None, $"training cancelled {after}");
            throw new OperationCanceledException($"training of the regularized network was cancelled {after}.", cancellation.Token);
        }

        channel.Info(MessageSensitivity.None, Invariant($"finished ({model.History.StopReason}): kept the weights of epoch {model.History.ModelEpoch} of {model.History.Epochs.Count}, {model.History.TotalSeconds:F1} s"));
        return CreateTransformer(_context, model, trainData, _options.FeatureColumnName, labelColumn.Annotations);
    }

    private static void CancelIf(MLContextBridge context, CancellationTokenSource cancellation)
    {
        try
        {
            if (context.IsCanceled)
            {
                cancellation.Cancel();
            }
        }
        catch (ObjectDisposedException)
        {
            // Training has ended and the source is gone; a last tick of the timer has nothing to do.
        }
    }

    /// <summary>Iterative magnitude pruning (<see cref="RegularizedNetworkOptions.PruningRounds"/>): every round is
    /// logged; the sparsest completed round's model is returned (null when not even the dense round completed).</summary>
    private TrainedModel? FitTicket(TrainerOptions trainerOptions, int outputs, Dataset train, Dataset? validation, IProgress<EpochRecord> epochs, IChannel channel, CancellationToken token)
    {
        var rounds = new Forward<LotteryTicketProgress>(p =>
        {
            if (p.Kind == LotteryTicketProgressKind.Epoch)
            {
                epochs.Report(p.Epoch!);
            }
            else if (p.Kind == LotteryTicketProgressKind.RoundFinished)
            {
                var t = p.Result!.Ticket;
                channel.Info(MessageSensitivity.None, Invariant($"pruning round {p.Round}/{p.Rounds}: {100 * p.Result.FractionRemaining:0.##}% of the weights, validation accuracy {t.ValidationAccuracy:F4} (epoch {t.EarlyStopEpoch})"));
            }
        });
        var result = new LotteryTicket(_options.ToLotteryTicketOptions(trainerOptions)).Run(_options.BuildNetwork(outputs), train, validation, null, rounds, token);
        return result.Sparsest?.Ticket.Model;
    }

    private DataViewSource ReadValidation(IDataView trainData, IDataView validationData, DataViewSchema.Column trainLabel, int[] shape)
    {
        // Raw rows (the columns the pipeline started from) go through the fitted transforms that made the training
        // data; rows that already look like the training data are used as they are.
        var data = validationData;
        var raw = MLContextBridge.RawSource(trainData);
        if (!ReferenceEquals(raw, trainData) && HasColumnsOf(validationData.Schema, raw.Schema))
        {
            data = _context.ApplyUpstreamTransforms(trainData, validationData);
        }
        else if (data.Schema.GetColumnOrNull(_options.FeatureColumnName) is null)
        {
            throw new ArgumentException(
                $"features column '{_options.FeatureColumnName}' was not found in the validation data; columns: {string.Join(", ", validationData.Schema.Where(c => !c.IsHidden).Select(c => c.Name))}. " +
                $"Pass validation rows with the pipeline's input columns ({string.Join(", ", raw.Schema.Where(c => !c.IsHidden).Select(c => c.Name))}), or rows transformed like the training data.", nameof(validationData));
        }

        var validationLabel = DataViewReader.LabelColumn(data.Schema, _options.LabelColumnName, Task, "validation data");
        if (Task == TaskKind.Multiclass)
        {
            var trainNames = DataViewReader.KeyNames(trainLabel);
            var validationNames = DataViewReader.KeyNames(validationLabel);
            if (((KeyDataViewType)validationLabel.Type).Count != ((KeyDataViewType)trainLabel.Type).Count
                || (trainNames is not null && validationNames is not null && !trainNames.SequenceEqual(validationNames)))
            {
                throw new ArgumentException(
                    $"the validation label's keys ({Keys(validationLabel)}) differ from the training label's ({Keys(trainLabel)}): map both with the same fitted MapValueToKey transformer, or pass raw validation rows.", nameof(validationData));
            }
        }

        var (featureColumn, _) = DataViewReader.FeatureColumn(data.Schema, _options.FeatureColumnName, "validation data");
        InputLayout.Check(featureColumn, shape);
        return DataViewSource.Create(data, _options.FeatureColumnName, _options.LabelColumnName, Task, shape, "validation data");
    }

    /// <summary>Wraps a trained engine model as an ML.NET transformer reading <paramref name="featureColumnName"/>;
    /// <paramref name="label"/> holds the training label's key values (multiclass), if it has them.</summary>
    internal static RegularizedNetworkTransformer CreateTransformer(MLContextBridge context, TrainedModel model, IDataView input, string featureColumnName, DataViewSchema.Annotations? label)
    {
        var annotations = new ScoreAnnotations(model.Task, label);
        // Fitting these reads no rows: the ONNX model is trained and the key mapping's dictionary is given.
        var scorer = ScoringPipeline(context.Transforms, model, featureColumnName, annotations.LabelKeyValues).Fit(input);
        return new RegularizedNetworkTransformer(scorer, model, featureColumnName, annotations);
    }

    /// <summary>
    /// The ML.NET estimators that score <paramref name="model"/>: ApplyOnnxModel on the scoring graph, the one-value
    /// vectors turned into scalars and, for multiclass, the class index mapped to <c>PredictedLabel</c>: a key whose
    /// key k + 1 is the label's key k + 1 (the label's values, in the label's order, whatever ordinality made them),
    /// so evaluators compare like with like and <c>MapKeyToValue</c> gives back the label's own values and type.
    /// </summary>
    internal static EstimatorChain<ITransformer> ScoringPipeline(TransformsCatalog transforms, TrainedModel model, string featureColumnName, DataViewSchema.Annotations? labelKeyValues)
    {
        var (bytes, outputs) = OnnxScoringGraph.Build(model, featureColumnName, labelKeyValues is not null);
        var chain = new EstimatorChain<ITransformer>().Append((IEstimator<ITransformer>)transforms.ApplyOnnxModel(outputs, [featureColumnName], new MemoryStream(bytes)));
        var intermediate = outputs.Where(o => o.StartsWith(OnnxScoringGraph.Prefix, StringComparison.Ordinal)).ToList();
        switch (model.Task)
        {
            case TaskKind.Multiclass:
                chain = chain.Append(ScalarColumns.Multiclass(transforms));
                intermediate.Add(ScalarColumns.PredictedIndexScalar);
                chain = chain.Append(PredictedLabelMapping(transforms, labelKeyValues, model.ClassCount, intermediate));
                break;
            case TaskKind.Binary:
                chain = chain.Append(ScalarColumns.Binary(transforms));
                break;
            default:
                chain = chain.Append(ScalarColumns.Regression(transforms));
                break;
        }

        return chain.Append((IEstimator<ITransformer>)transforms.DropColumns([.. intermediate]));
    }

    /// <summary>Class index (Int64) → the label's value of that class → a key made from the label's values in key
    /// order (<c>keyData</c>, by occurrence), which reproduces the label's key type exactly. A label key without
    /// values gets keys from the class indices 0..K−1.</summary>
    private static IEstimator<ITransformer> PredictedLabelMapping(TransformsCatalog transforms, DataViewSchema.Annotations? labelKeyValues, int classCount, List<string> intermediate)
    {
        const string output = "PredictedLabel";
        if (labelKeyValues is null)
        {
            var indices = new KeyData<long>(Enumerable.Range(0, classCount).Select(i => (long)i).ToArray()).ToDataView();
            return transforms.Conversion.MapValueToKey(output, ScalarColumns.PredictedIndexScalar, keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByOccurrence, keyData: indices);
        }

        var itemType = ((VectorDataViewType)labelKeyValues.Schema[DataViewReader.KeyValuesKind].Type).ItemType.RawType;
        var method = typeof(RegularizedNetworkEstimator).GetMethod(nameof(TypedLabelMapping), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        var valueType = itemType == typeof(ReadOnlyMemory<char>) ? typeof(string) : itemType;
        intermediate.Add(PredictedValue);
        return (IEstimator<ITransformer>)method.MakeGenericMethod(itemType, valueType).Invoke(null, [transforms, labelKeyValues, output])!;
    }

    private const string PredictedValue = OnnxScoringGraph.Prefix + "PredictedValue";

    private static IEstimator<ITransformer> TypedLabelMapping<TItem, TValue>(TransformsCatalog transforms, DataViewSchema.Annotations labelKeyValues, string output)
    {
        VBuffer<TItem> values = default;
        labelKeyValues.GetValue(DataViewReader.KeyValuesKind, ref values);
        var typed = values.DenseValues().Select(v => (TValue)(object)(v is ReadOnlyMemory<char> text ? text.ToString() : v!)).ToArray();
        if (typed.Distinct().Count() != typed.Length)
        {
            throw new ArgumentException("the label's key values are not distinct, so predicted classes cannot be mapped back to them.", "input");
        }

        var pairs = typed.Select((v, i) => new KeyValuePair<long, TValue>(i, v));
        return transforms.Conversion.MapValue(PredictedValue, pairs, ScalarColumns.PredictedIndexScalar)
            .Append(transforms.Conversion.MapValueToKey(output, PredictedValue, keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByOccurrence, keyData: new KeyData<TValue>(typed).ToDataView()));
    }

    /// <summary>
    /// The output schema, obtained from ML.NET's own trainer for the same task (SDCA): it checks the features and label
    /// columns the same way and declares the same conventional columns and annotations that
    /// <see cref="RegularizedNetworkTransformer"/>'s output carries (<c>SchemaShape.Column</c> cannot be built outside
    /// ML.NET). Named errors for a missing or mistyped column come first.
    /// </summary>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        if (!inputSchema.Any(c => c.Name == _options.FeatureColumnName))
        {
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"features column '{_options.FeatureColumnName}' was not found in the input schema.");
        }

        var features = inputSchema.Last(c => c.Name == _options.FeatureColumnName);
        if (features.Kind != SchemaShape.Column.VectorKind.Vector || features.ItemType != NumberDataViewType.Single)
        {
            throw new ArgumentException($"features column '{_options.FeatureColumnName}' must be a fixed-size vector of Single (float), but it is {features.Kind} of {features.ItemType}.", nameof(inputSchema));
        }

        if (!inputSchema.Any(c => c.Name == _options.LabelColumnName))
        {
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"label column '{_options.LabelColumnName}' was not found in the input schema.");
        }

        string label = _options.LabelColumnName, feature = _options.FeatureColumnName;
        var ml = new MLContext();
        return Task switch
        {
            TaskKind.Multiclass => ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(label, feature).GetOutputSchema(inputSchema),
            TaskKind.Binary => ml.BinaryClassification.Trainers.SdcaLogisticRegression(label, feature).GetOutputSchema(inputSchema),
            _ => ml.Regression.Trainers.Sdca(label, feature).GetOutputSchema(inputSchema),
        };
    }

    /// <summary>True when <paramref name="schema"/> has every visible column of <paramref name="required"/>, with the same type.</summary>
    private static bool HasColumnsOf(DataViewSchema schema, DataViewSchema required) =>
        required.Where(c => !c.IsHidden).All(c => schema.GetColumnOrNull(c.Name) is { } match && match.Type.Equals(c.Type));

    private static string Keys(DataViewSchema.Column label) =>
        DataViewReader.KeyNames(label) is { } names ? string.Join(", ", names.Take(12)) + (names.Count > 12 ? ", ..." : "") : $"{((KeyDataViewType)label.Type).Count} keys without values";

    private static string Shape(int[] shape) => shape.Length == 1 ? shape[0].ToString(CultureInfo.InvariantCulture) : string.Join("×", shape);

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Writes each epoch to the MLContext's log and passes it on to the caller's progress.</summary>
    private sealed class EpochLog(IChannel channel, int epochs, IProgress<EpochRecord>? next, Action afterEpoch) : IProgress<EpochRecord>
    {
        public void Report(EpochRecord e)
        {
            string validation = e.ValidationLoss is { } loss ? Invariant($", validation loss {loss:F4}, accuracy {e.ValidationAccuracy:F4}") : "";
            channel.Info(MessageSensitivity.None, Invariant($"epoch {e.Epoch}/{epochs}: loss {e.TrainLoss:F4}, accuracy {e.TrainAccuracy:F4}{validation}, {e.Seconds:F1} s"));
            next?.Report(e);
            afterEpoch();
        }
    }
}

/// <summary>Forwards reports synchronously (<see cref="Progress{T}"/> would post them to the thread pool).</summary>
internal sealed class Forward<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

/// <summary>One column of values, as the key dictionary of a MapValueToKey (in the given order).</summary>
internal sealed class KeyData<T>(T[] values)
{
    public IDataView ToDataView() => new MLContext().Data.LoadFromEnumerable(values.Select(v => new KeyRow { Value = v }));

    /// <summary>A row of the dictionary.</summary>
    internal sealed class KeyRow
    {
        public T Value { get; set; } = default!;
    }
}
