using System.Globalization;

namespace MLNet.Regularization.Data;

/// <summary>Turns an <see cref="OutOfMemoryException"/> while data is loaded whole into one that says how much the data
/// needs and how to stream it instead.</summary>
internal static class MemoryNeeded
{
    /// <summary>Runs <paramref name="load"/>; when it runs out of memory, throws an <see cref="InsufficientMemoryException"/>
    /// naming <paramref name="what"/>, the bytes it needs (<paramref name="needed"/>, asked once it failed, for example "1.0 GB as 32-bit floats
    /// (320,000 examples of 784 values)") and <paramref name="stream"/>, the way to stream it.</summary>
    public static T Guard<T>(Func<T> load, string what, Func<string> needed, string stream)
    {
        try
        {
            return load();
        }
        catch (OutOfMemoryException e) when (e is not InsufficientMemoryException)
        {
            throw new InsufficientMemoryException(
                $"loading {what} into memory needs {needed()}, more than this process could allocate ({Bytes(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes)} available to it); stream it instead: {stream}.", e);
        }
    }

    /// <summary>A byte count for people: 1.0 GB, 250 MB, 12 KB.</summary>
    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F1} GB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F0} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F0} KB"),
    };

    /// <summary>"1.0 GB as 32-bit floats (320,000 examples of 784 values)".</summary>
    public static string AsFloats(long examples, long values) =>
        string.Create(CultureInfo.InvariantCulture, $"{Bytes(examples * values * sizeof(float))} as 32-bit floats ({examples:N0} examples of {values:N0} values)");
}
