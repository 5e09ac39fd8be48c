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
    /// <exception cref="IOException">The file could not be written; the message names <paramref name="path"/>.</exception>
    /// <remarks>The temporary file is <c>.{name}.{process id}.{random}.tmp</c> beside the target. A process killed while
    /// writing cannot delete its own, so every write first deletes the temporary files of the same target whose process
    /// no longer runs: a crash leaves at most one orphan, until the next write of that file.</remarks>
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

        string name = Path.GetFileName(full);
        DeleteOrphans(folder, name);
        string temporary = Path.Combine(folder, $".{name}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not DirectoryNotFoundException)
        {
            throw new IOException($"cannot write '{path}': {e.Message}", e);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
    }

    /// <summary>Deletes the temporary files that writes of <paramref name="name"/> by processes that have since died
    /// left behind (killed before their <c>finally</c> could run).</summary>
    internal static void DeleteOrphans(string folder, string name)
    {
        string prefix = $".{name}.";
        IEnumerable<string> candidates;
        try
        {
            candidates = Directory.EnumerateFiles(folder, $"{prefix}*.tmp").ToList();
        }
        catch (IOException)
        {
            return;
        }

        foreach (string file in candidates)
        {
            var parts = Path.GetFileName(file)[prefix.Length..].Split('.');
            if (parts.Length != 3 || !int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid) || IsRunning(pid))
            {
                continue;
            }

            try
            {
                File.Delete(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Best effort: another writer may be deleting it too.
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        if (pid == Environment.ProcessId)
        {
            return true; // another write of this process may be in progress
        }

        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
