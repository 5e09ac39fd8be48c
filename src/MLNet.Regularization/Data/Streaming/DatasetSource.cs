using System.Globalization;
using System.Runtime.InteropServices;

namespace MLNet.Regularization.Data;

/// <summary>An in-memory <see cref="Dataset"/> as an <see cref="ExampleSource"/>: random access, 32-bit floats, nothing
/// copied. <c>Trainer.Fit(network, dataset)</c> trains through one of these, so in-memory and streamed training run the
/// very same loop.</summary>
public sealed class DatasetSource : ExampleSource
{
    /// <summary>Wraps <paramref name="data"/> (which must not change while the source is used).</summary>
    /// <param name="data">The examples.</param>
    public DatasetSource(Dataset data)
        : base(
            string.Create(CultureInfo.InvariantCulture, $"the {Require(data).Count:N0} examples in memory"),
            data.SampleShape,
            FeatureStorage.Single,
            data.Task,
            data.Labels,
            data.Targets,
            data.ClassCount,
            data.TargetSize,
            data.ClassNames)
    {
        Data = data;
    }

    /// <summary>The wrapped dataset.</summary>
    public Dataset Data { get; }

    /// <inheritdoc />
    public override bool SupportsRandomAccess => true;

    /// <inheritdoc />
    public override ExampleCursor OpenCursor() => new IndexCursor(this);

    /// <inheritdoc />
    public override void ReadFeatures(int index, Span<byte> destination)
    {
        CheckRead(index, destination);
        MemoryMarshal.AsBytes(Data.Features.Span.Slice(index * FeatureCount, FeatureCount)).CopyTo(destination);
        AddBytesRead(destination.Length);
    }

    /// <summary>A NaN in memory is the caller's argument, as <see cref="Dataset"/> reports it.</summary>
    protected internal override Exception InvalidValue(string message) => new ArgumentException(message);

    private static Dataset Require(Dataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return data;
    }
}
