using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;

namespace MLNet.Regularization.Cli.Tests;

/// <summary>Renders compare's HTML report in headless Chromium (Debian package <c>chromium</c>, installed by
/// <c>./build.sh setup</c>): the page loads, its SVG holds one series per configuration, and a screenshot is made.</summary>
public sealed class ReportBrowserTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void The_report_renders_in_headless_Chromium()
    {
        string chromium = FindChromium() ?? throw new InvalidOperationException("chromium is not installed: run ./build.sh setup (it installs Debian's chromium package).");
        string report = _folder.File("report.html");
        var r = Tool.Run(["compare", Tool.TrainCsv, .. Tool.Quick, "--epochs", "5", "--report", report, "--output", _folder.File("best.onnx"), "--quiet"]);
        Assert.True(r.ExitCode == 0, r.ToString());

        string png = _folder.File("report.png");
        string uri = new Uri(report).AbsoluteUri;
        var (code, dom, log) = Chromium(chromium, "--dump-dom", uri);
        Assert.True(code == 0, $"chromium --dump-dom exited with {code}: {log}");
        Assert.Contains("<h1>Regularization comparison: fashion7x7-train.csv</h1>", dom);
        Assert.Equal(8, Regex.Count(dom, "<g class=\"series\" data-config=\""));
        Assert.Equal(8, Regex.Count(dom, "<g class=\"gap-bar\" data-config=\""));

        (code, _, log) = Chromium(chromium, $"--screenshot={png}", "--window-size=1280,2000", uri);
        Assert.True(code == 0, $"chromium --screenshot exited with {code}: {log}");
        var bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 20_000, $"the screenshot has only {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        output.WriteLine($"screenshot: {bytes.Length:N0} bytes");
    }

    private (int Code, string Out, string Err) Chromium(string chromium, params string[] args)
    {
        var info = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in (string[])["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", $"--user-data-dir={_folder.File("profile")}", .. args])
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("chromium did not finish within 60 s");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string? FindChromium() =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
        ?? (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "chromium")).FirstOrDefault(File.Exists);
}
