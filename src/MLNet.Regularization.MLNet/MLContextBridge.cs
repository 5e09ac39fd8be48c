using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// The caller's ML.NET environment, reached from the catalog a trainer is created on — what ML.NET's own trainers
/// use for their seed, their log messages and their cancellation.
/// </summary>
/// <remarks>
/// ML.NET keeps the link from a catalog to its environment internal (<c>IInternalCatalog.Environment</c>), and with it
/// the cancellation flag (<c>ICancelable.IsCanceled</c>), the constructor of <see cref="TransformsCatalog"/> and the
/// helper that re-applies fitted transforms to other data (<c>ApplyTransformUtils.ApplyAllTransformsToData</c>).
/// This class is the one place that reaches them, by reflection, against the Microsoft.ML version this package is
/// built for (5.0.x); if a future version moves them, every use fails with a message that says so instead of
/// silently ignoring the caller's context. The adapter's tests exercise each of them.
/// </remarks>
internal sealed class MLContextBridge
{
    private const string Unsupported = "this version of Microsoft.ML does not expose what MLNet.Regularization.MLNet was built against (Microsoft.ML 5.0.x)";

    private static readonly Assembly DataAssembly = typeof(Microsoft.ML.Data.TransformerChain<>).Assembly;
    private static readonly Type? InternalCatalog = DataAssembly.GetType("Microsoft.ML.Data.IInternalCatalog");
    private static readonly Type? ApplyTransformUtils = DataAssembly.GetType("Microsoft.ML.Data.ApplyTransformUtils");
    private static readonly Type? DataTransform = typeof(IDataView).Assembly.GetType("Microsoft.ML.Data.IDataTransform") ?? DataAssembly.GetType("Microsoft.ML.Data.IDataTransform")
        ?? AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetType("Microsoft.ML.Data.IDataTransform")).FirstOrDefault(t => t is not null);

    private readonly PropertyInfo? _isCanceled;

    private MLContextBridge(IHostEnvironment environment)
    {
        Environment = environment;
        _isCanceled = environment.GetType().GetInterfaces().FirstOrDefault(i => i.Name == "ICancelable")?.GetProperty("IsCanceled");
        Transforms = CreateTransformsCatalog(environment);
    }

    /// <summary>The caller's environment (the MLContext's).</summary>
    public IHostEnvironment Environment { get; }

    /// <summary>A transforms catalog in the caller's environment, so the scoring transforms the trainer builds
    /// (ApplyOnnxModel and the column mappings) log, cancel and take ONNX Runtime settings as the caller's would.</summary>
    public TransformsCatalog Transforms { get; }

    /// <summary>True once the caller has cancelled the MLContext's execution.</summary>
    public bool IsCanceled => _isCanceled?.GetValue(Environment) is true;

    /// <summary>The environment behind a catalog of <c>mlContext</c> (its trainers or transforms catalog).</summary>
    public static MLContextBridge FromCatalog(object catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var property = InternalCatalog?.GetProperty("Environment")
            ?? throw new NotSupportedException($"{Unsupported}: no IInternalCatalog.Environment.");
        if (!InternalCatalog.IsInstanceOfType(catalog) || property.GetValue(catalog) is not IHostEnvironment environment)
        {
            throw new ArgumentException($"{catalog.GetType().Name} is not an ML.NET catalog of an MLContext.", nameof(catalog));
        }

        return new MLContextBridge(environment);
    }

    /// <summary>The environment of an MLContext (which is itself one).</summary>
    public static MLContextBridge FromContext(MLContext mlContext)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        return FromCatalog(mlContext.Transforms);
    }

    /// <summary>A seed drawn from the MLContext's random source, as ML.NET's own trainers draw theirs: the same
    /// <c>new MLContext(seed: s)</c> and call order give the same seed.</summary>
    public int DrawSeed(string component) => Environment.Register(component).Rand.Next();

    /// <summary>Starts a channel whose messages reach <c>mlContext.Log</c>.</summary>
    public IChannel StartChannel(string name) => Environment.Start(name);

    /// <summary>Runs the fitted transforms that produced <paramref name="transformed"/> (back to its raw source)
    /// over <paramref name="raw"/>, which has the raw source's columns.</summary>
    public IDataView ApplyUpstreamTransforms(IDataView transformed, IDataView raw)
    {
        var method = ApplyTransformUtils?.GetMethod("ApplyAllTransformsToData", BindingFlags.Public | BindingFlags.Static)
            ?? throw new NotSupportedException($"{Unsupported}: no ApplyTransformUtils.ApplyAllTransformsToData.");
        try
        {
            return (IDataView)method.Invoke(null, [Environment, transformed, raw, null])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw new ArgumentException($"the validation data could not be run through the pipeline's transforms: {e.InnerException.Message}", "validationData", e.InnerException);
        }
    }

    /// <summary>The data that <paramref name="transformed"/> was made from by fitted transforms (the start of its chain
    /// of transformed views), or <paramref name="transformed"/> itself when it is not a transformed view.</summary>
    public static IDataView RawSource(IDataView transformed)
    {
        var source = DataTransform?.GetProperty("Source");
        var current = transformed;
        while (source is not null && DataTransform!.IsInstanceOfType(current) && source.GetValue(current) is IDataView next)
        {
            current = next;
        }

        return current;
    }

    private static TransformsCatalog CreateTransformsCatalog(IHostEnvironment environment)
    {
        var constructor = typeof(TransformsCatalog).GetConstructor(BindingFlags.NonPublic | BindingFlags.Instance, [typeof(IHostEnvironment)])
            ?? throw new NotSupportedException($"{Unsupported}: no TransformsCatalog(IHostEnvironment).");
        return (TransformsCatalog)constructor.Invoke([environment]);
    }
}
