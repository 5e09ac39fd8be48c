using System.Text;

namespace MLNet.Regularization.Reporting;

/// <summary>
/// Writes files all at once or not at all: the content goes to a temporary file in the target's folder, which is
/// then renamed over the target. A crash or a full disk leaves the previous file (or none), never half a file.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="text"/> as UTF-8 (without a byte-order mark).</summary>
    /// <param name="path">The target file; its folder must exist.</param>
    /// <param name="text">The content.</param>
    /// <exception cref="DirectoryNotFoundException">The target's folder does not exist.</exception>
    public static void WriteAllText(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, new UTF8Encoding(false), leaveOpen: true);
            writer.Write(text);
        });
    }

    /// <summary>Writes bytes.</summary>
    /// <param name="path">The target file; its folder must exist.</param>
    /// <param name="bytes">The content.</param>
    public static void WriteAllBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Write(path, stream => stream.Write(bytes));
    }

    /// <summary>Lets <paramref name="write"/> fill a temporary stream, then renames the file over the target.</summary>
    /// <param name="path">The target file; its folder must exist.</param>
    /// <param name="write">Writes the content.</param>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"cannot write '{path}': folder '{folder}' does not exist.");
        }

        string temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }
}
