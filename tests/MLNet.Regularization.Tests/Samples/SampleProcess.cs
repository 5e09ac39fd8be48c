using System.Diagnostics;
using Xunit;

namespace MLNet.Regularization.Tests.Samples;

/// <summary>Runs a sample's built program as a child process, the way a user runs it, for the tests of samples that
/// write files and print tables. The sample must be built in the test assembly's configuration first (the test
/// project references it with ReferenceOutputAssembly="false" for that).</summary>
internal static class SampleProcess
{
    /// <summary>The folder of MLNet.Regularization.sln above the test assembly.</summary>
    public static string Repository { get; } = FindRepository();

    /// <summary>Runs samples/<paramref name="sample"/> with the arguments in <paramref name="workingDirectory"/> and
    /// returns its exit code and output; fails the test when it runs longer than five minutes.</summary>
    public static (int Exit, string Stdout, string Stderr) Run(string sample, string workingDirectory, IEnumerable<string> arguments)
    {
        string configuration = typeof(SampleProcess).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyConfigurationAttribute), false)
            .OfType<System.Reflection.AssemblyConfigurationAttribute>().Single().Configuration;
        string dll = Path.Combine(Repository, "samples", sample, "bin", configuration, "net10.0", sample + ".dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution first.");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        start.ArgumentList.Add(dll);
        foreach (string a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"samples/{sample} did not finish within 5 minutes.");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MLNet.Regularization.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no MLNet.Regularization.sln above {AppContext.BaseDirectory}.");
    }
}
