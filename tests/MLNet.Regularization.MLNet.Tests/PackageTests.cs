using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Security;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;
using Xunit.Abstractions;

namespace MLNet.Regularization.MLNet.Tests;

/// <summary>
/// The NuGet packages as a user gets them. <see cref="PackedFeed"/> packs the engine and the adapter (already built by
/// <c>./build.sh test</c>, in this assembly's configuration) into a temporary folder feed; these tests read what the
/// packages carry and restore, build and run a console program that knows the packages only through that feed.
/// </summary>
public sealed partial class PackageTests(PackedFeed feed, ITestOutputHelper output) : IClassFixture<PackedFeed>
{
    [Fact]
    public void Packages_CarryReadmeLicenceXmlDocsAndSymbols()
    {
        string readme = File.ReadAllText(Path.Combine(feed.RepositoryRoot, "README.md"));
        string licence = File.ReadAllText(Path.Combine(feed.RepositoryRoot, "LICENSE"));
        foreach (string id in PackedFeed.PackageIds)
        {
            using var package = ZipFile.OpenRead(feed.PackagePath(id));
            var metadata = Nuspec(package);
            Assert.True(Text(package, "README.md") == readme, $"{id}: README.md in the package is missing or differs from the repository's.");
            Assert.True(Text(package, "LICENSE") == licence, $"{id}: LICENSE in the package is missing or differs from the repository's.");
            Assert.Equal("README.md", Element(metadata, "readme")?.Value);
            var license = Element(metadata, "license");
            Assert.True(license is not null && (string?)license.Attribute("type") == "expression" && license.Value == "MIT",
                $"{id}: the nuspec should carry <license type=\"expression\">MIT</license>, it has {license?.ToString() ?? "none"}.");
            Assert.False(string.IsNullOrWhiteSpace(Element(metadata, "description")?.Value), $"{id}: no description.");
            Assert.False(string.IsNullOrWhiteSpace(Element(metadata, "tags")?.Value), $"{id}: no tags.");

            Assert.True(package.GetEntry($"lib/net10.0/{id}.dll") is not null, $"{id}: lib/net10.0/{id}.dll is missing.");
            string docs = Text(package, $"lib/net10.0/{id}.xml")
                ?? throw new Xunit.Sdk.XunitException($"{id}: the XML documentation lib/net10.0/{id}.xml is missing.");
            Assert.True(XDocument.Parse(docs).Descendants("member").Any(), $"{id}: the XML documentation documents no member.");

            string symbols = Path.ChangeExtension(feed.PackagePath(id), ".snupkg");
            Assert.True(File.Exists(symbols), $"{id}: the symbol package {symbols} was not written.");
            using var symbolPackage = ZipFile.OpenRead(symbols);
            Assert.True(symbolPackage.GetEntry($"lib/net10.0/{id}.pdb") is not null, $"{id}: the symbol package has no lib/net10.0/{id}.pdb.");
        }
    }

    [Fact]
    public void Packages_DependOnWhatTheyUse_AtTheCentrallyPinnedVersions()
    {
        var pinned = feed.CentralVersions;
        var engine = Dependencies(PackedFeed.EngineId);
        var adapter = Dependencies(PackedFeed.AdapterId);
        output.WriteLine($"{PackedFeed.EngineId}: {string.Join(", ", engine.Select(d => $"{d.Key} {d.Value}"))}");
        output.WriteLine($"{PackedFeed.AdapterId}: {string.Join(", ", adapter.Select(d => $"{d.Key} {d.Value}"))}");

        // The engine needs no part of ML.NET, and protoc (Grpc.Tools) only runs at build time.
        Assert.Equal(new[] { "Google.Protobuf", "System.Numerics.Tensors" }, engine.Keys.Order(StringComparer.Ordinal));

        Assert.True(adapter.TryGetValue(PackedFeed.EngineId, out string? engineVersion) && engineVersion == feed.Version,
            $"{PackedFeed.AdapterId} should depend on {PackedFeed.EngineId} {feed.Version}, it names {engineVersion ?? "none"}.");
        foreach (string needed in new[] { "Microsoft.ML", "Microsoft.ML.OnnxTransformer", "Microsoft.ML.OnnxRuntime.Managed" })
        {
            Assert.True(adapter.ContainsKey(needed), $"{PackedFeed.AdapterId} does not depend on {needed}.");
        }

        // Every third-party dependency is at the version the repository builds and tests with, which the package source
        // serves (OnnxTransformer's own floor for OnnxRuntime.Managed, 1.23.2, is not served: the adapter names 1.31.1).
        foreach (var (id, version) in engine.Concat(adapter.Where(d => d.Key != PackedFeed.EngineId)))
        {
            Assert.True(id != "Grpc.Tools", "Grpc.Tools is a build-time tool and must not become a package dependency.");
            Assert.True(pinned.TryGetValue(id, out string? central), $"dependency {id} {version} has no PackageVersion in Directory.Packages.props.");
            Assert.True(central == version, $"dependency {id} is {version} in the nuspec but {central} in Directory.Packages.props.");
        }
    }

    [Fact]
    public void ConsumerProject_RestoresFromTheFeed_AndTrainsThroughMLNet()
    {
        string folder = WriteConsumer("consumer", feed.CentralVersions["Microsoft.ML.OnnxRuntime"]);
        File.WriteAllText(Path.Combine(folder, "Program.cs"), ConsumerProgram);
        Restore(folder);

        string bin = Path.Combine(folder, "out");
        var build = feed.Dotnet(folder, TimeSpan.FromMinutes(5), "build", "--no-restore", "-c", "Release", "-o", bin, "--disable-build-servers");
        Assert.True(build.Exit == 0, $"the consumer project did not build against the packages:\n{build.Output}");

        var run = feed.Dotnet(folder, TimeSpan.FromMinutes(3), Path.Combine(bin, "Consumer.dll"));
        Assert.True(run.Exit == 0, $"the consumer program failed (exit {run.Exit}):\n{run.Output}");
        var match = AccuracyLine().Match(run.Output);
        Assert.True(match.Success, $"the consumer program printed no accuracy:\n{run.Output}");
        double accuracy = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        output.WriteLine(string.Join("\n", feed.Log));
        output.WriteLine($"consumer accuracy on its held-out rows: {accuracy:F4}");

        // Three well-separated classes: chance is 1/3, a model scored with the wrong class order or not trained lands
        // near it; trained to convergence it classified all 300 held-out rows right with MLContext seeds 1 to 8.
        Assert.True(accuracy >= 0.9, $"the consumer's network reached only {accuracy:F4} accuracy on three well-separated classes:\n{run.Output}");
    }

    [Fact]
    public void ConsumerOfTheAdapterAlone_RestoresWithoutNU1603()
    {
        // Without ONNX Runtime 1.31.1 from the adapter's own dependencies, OnnxTransformer 5.0.1's floor (1.23.2, not
        // served) would resolve to another version with NU1603, an error where warnings are errors.
        Restore(WriteConsumer("adapter-only", onnxRuntimeVersion: null));
    }

    [GeneratedRegex(@"^accuracy=([0-9.]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex AccuracyLine();

    /// <summary>A console project in a new folder that knows the packages only through the packed feed and the public
    /// source; it references the adapter and, when a version is given, the native ONNX Runtime.</summary>
    private string WriteConsumer(string name, string? onnxRuntimeVersion)
    {
        string folder = feed.WorkFolder(name);
        foreach (string isolation in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
        {
            // Stops MSBuild from importing whatever such files lie in the folders above the temporary folder.
            File.WriteAllText(Path.Combine(folder, isolation), "<Project />\n");
        }

        File.WriteAllText(Path.Combine(folder, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="packed" value="{SecurityElement.Escape(feed.FeedFolder)}" />
                <add key="nuget.org" value="{PackedFeed.PublicSource}" />
              </packageSources>
            </configuration>
            """);
        string runtime = onnxRuntimeVersion is null ? "" : $"""<PackageReference Include="Microsoft.ML.OnnxRuntime" Version="{onnxRuntimeVersion}" />""";
        File.WriteAllText(Path.Combine(folder, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                <!-- Advisories on third-party packages are not what this test checks, and would make every run ask the
                     public source for them. -->
                <NuGetAudit>false</NuGetAudit>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="{PackedFeed.AdapterId}" Version="{feed.Version}" />
                {runtime}
              </ItemGroup>
            </Project>
            """);
        return folder;
    }

    private void Restore(string folder)
    {
        var restore = feed.Dotnet(folder, TimeSpan.FromMinutes(5), "restore", "--disable-build-servers");
        feed.RememberPackageFolders(Path.Combine(folder, "obj", "project.assets.json"));
        Assert.True(restore.Exit == 0,
            $"the consumer project did not restore from the packed feed and {PackedFeed.PublicSource} (is that source reachable? "
            + $"warnings count as errors there, so an NU1603 fails it too):\n{restore.Output}");
    }

    private Dictionary<string, string> Dependencies(string id)
    {
        using var package = ZipFile.OpenRead(feed.PackagePath(id));
        var groups = Nuspec(package).Descendants().Where(e => e.Name.LocalName == "group").ToList();
        Assert.True(groups.Count == 1 && (string?)groups[0].Attribute("targetFramework") == "net10.0",
            $"{id}: expected one dependency group for net10.0, found {string.Join(", ", groups.Select(g => (string?)g.Attribute("targetFramework")))}.");
        return groups[0].Elements().Where(e => e.Name.LocalName == "dependency")
            .ToDictionary(e => (string)e.Attribute("id")!, e => (string)e.Attribute("version")!);
    }

    private static XElement Nuspec(ZipArchive package)
    {
        var entry = package.Entries.SingleOrDefault(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/'))
            ?? throw new Xunit.Sdk.XunitException("the package has no nuspec at its root.");
        using var stream = entry.Open();
        return XDocument.Load(stream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
    }

    private static XElement? Element(XElement metadata, string name) => metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name);

    private static string? Text(ZipArchive package, string path)
    {
        var entry = package.GetEntry(path);
        if (entry is null)
        {
            return null;
        }

        using var reader = new StreamReader(entry.Open(), Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>Three Gaussian classes in 4-D (centres 3 apart on the axes, noise 0.5), 300 rows to train on and 300
    /// others to score; only the adapter's most basic surface, which its rewrites keep. Batches of 32 at a learning
    /// rate of 0.01 train the network to convergence in 20 epochs whatever the seed (with the defaults, batches of 128 at
    /// 0.001, even 600 training rows gave 0.53 to 0.93 over MLContext seeds 1 to 5).</summary>
    private const string ConsumerProgram = """
        using System.Globalization;
        using Microsoft.ML;
        using Microsoft.ML.Data;
        using MLNet.Regularization.MLNet;

        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Blobs.Make(300, seed: 1));
        var test = ml.Data.LoadFromEnumerable(Blobs.Make(300, seed: 2));
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.RegularizedNetwork(new RegularizedNetworkOptions { HiddenLayers = { 16 }, Epochs = 20, BatchSize = 32, LearningRate = 0.01f }));
        var model = pipeline.Fit(train);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accuracy={metrics.MicroAccuracy:F4}"));

        public sealed class Row
        {
            [VectorType(4)] public float[] Features { get; set; } = [];
            public string Label { get; set; } = "";
        }

        static class Blobs
        {
            public static List<Row> Make(int n, int seed)
            {
                var random = new Random(seed);
                string[] names = ["cat", "dog", "bird"];
                return Enumerable.Range(0, n).Select(i =>
                {
                    int c = i % 3;
                    var x = new float[4];
                    for (int j = 0; j < 4; j++)
                    {
                        double gaussian = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                        x[j] = (j == c ? 3f : 0f) + 0.5f * (float)gaussian;
                    }

                    return new Row { Features = x, Label = names[c] };
                }).ToList();
            }
        }
        """;
}

/// <summary>
/// Packs <c>MLNet.Regularization</c> and <c>MLNet.Regularization.MLNet</c> with <c>dotnet pack --no-build</c> into a
/// folder feed under a prerelease version of their own (so no copy in the NuGet cache from an earlier run can stand
/// in for them), and on dispose removes the feed, the consumer and that version from the NuGet cache. Fails, never
/// skips, when the .NET SDK cannot be started or the projects were not built.
/// </summary>
public sealed class PackedFeed : IDisposable
{
    public const string EngineId = "MLNet.Regularization";
    public const string AdapterId = "MLNet.Regularization.MLNet";
    public const string PublicSource = "https://api.nuget.org/v3/index.json";
    public static readonly string[] PackageIds = [EngineId, AdapterId];

    private readonly string _root = Path.Combine(Path.GetTempPath(), $"mlnet-reg-package-test-{Guid.NewGuid():N}");
    private readonly string _dotnet = FindDotnet();
    private readonly HashSet<string> _packageFolders = new(StringComparer.Ordinal);

    public PackedFeed()
    {
        Version = $"0.1.0-test{DateTime.UtcNow:yyyyMMddHHmmssfff}p{Environment.ProcessId}";
        RepositoryRoot = FindRepositoryRoot();
        CentralVersions = ReadCentralVersions(Path.Combine(RepositoryRoot, "Directory.Packages.props"));
        FeedFolder = WorkFolder("feed");
        try
        {
            Pack();
        }
        catch
        {
            // xunit does not dispose a fixture whose constructor threw.
            Dispose();
            throw;
        }
    }

    private void Pack()
    {
        string configuration = typeof(PackedFeed).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration
            ?? throw new InvalidOperationException("the test assembly does not say which configuration it was built in.");
        string nuspecs = WorkFolder("nuspec") + Path.DirectorySeparatorChar;
        foreach (string id in PackageIds)
        {
            string project = Path.Combine(RepositoryRoot, "src", id, $"{id}.csproj");
            var pack = Dotnet(RepositoryRoot, TimeSpan.FromMinutes(3), "pack", project, "--no-build", "-c", configuration, "-o", FeedFolder,
                $"-p:Version={Version}", $"-p:NuspecOutputPath={nuspecs}", "--disable-build-servers");
            if (pack.Exit != 0 || !File.Exists(PackagePath(id)))
            {
                throw new InvalidOperationException(
                    $"dotnet pack {id} --no-build -c {configuration} failed (exit {pack.Exit}); it packs what is already built, so the solution "
                    + $"must be built in {configuration} first, as ./build.sh test does:\n{pack.Output}");
            }
        }
    }

    /// <summary>The version under which this run packs, unique per run.</summary>
    public string Version { get; }

    public string RepositoryRoot { get; }

    public string FeedFolder { get; }

    /// <summary>Package id → version from Directory.Packages.props.</summary>
    public IReadOnlyDictionary<string, string> CentralVersions { get; }

    /// <summary>What each dotnet call did and how long it took.</summary>
    public List<string> Log { get; } = [];

    public string PackagePath(string id) => Path.Combine(FeedFolder, $"{id}.{Version}.nupkg");

    /// <summary>A new folder under this run's temporary folder.</summary>
    public string WorkFolder(string name) => Directory.CreateDirectory(Path.Combine(_root, name)).FullName;

    /// <summary>Notes the global packages folder a restore used (from its assets file), so that dispose removes this
    /// run's packages from there.</summary>
    public void RememberPackageFolders(string assetsFile)
    {
        if (!File.Exists(assetsFile))
        {
            return;
        }

        using var assets = JsonDocument.Parse(File.ReadAllText(assetsFile));
        if (assets.RootElement.TryGetProperty("packageFolders", out var folders))
        {
            foreach (var folder in folders.EnumerateObject())
            {
                _packageFolders.Add(folder.Name);
            }
        }
    }

    /// <summary>Runs the .NET SDK's dotnet with the given arguments; returns its exit code and its output and error
    /// text together.</summary>
    public (int Exit, string Output) Dotnet(string workingDirectory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(_dotnet)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        // No MSBuild node or compiler server may outlive the call (and hold this process's pipes open).
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";

        var clock = Stopwatch.StartNew();
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{_dotnet} did not start.");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException(
                $"the .NET SDK cannot be started as '{_dotnet}' ({e.Message}): install the .NET 10 SDK and put dotnet on PATH.", e);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish within {timeout.TotalMinutes} minutes.");
            }

            process.WaitForExit();
            Log.Add($"dotnet {arguments[0]}: exit {process.ExitCode}, {clock.Elapsed.TotalSeconds:F1} s");
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
    }

    public void Dispose()
    {
        string defaultFolder = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        _packageFolders.Add(defaultFolder);
        foreach (string folder in _packageFolders)
        {
            foreach (string id in PackageIds)
            {
                // NuGet keeps packages under lower-case id and version folders.
                DeleteFolder(Path.Combine(folder, id.ToLowerInvariant(), Version.ToLowerInvariant()));
            }
        }

        DeleteFolder(_root);
    }

    private static void DeleteFolder(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }

    /// <summary>The dotnet that runs this test when it is the SDK's muxer (or the one the SDK names in DOTNET_HOST_PATH),
    /// else the first on PATH.</summary>
    private static string FindDotnet()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
        {
            return host;
        }

        string? self = Environment.ProcessPath;
        return self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "build.sh")) && File.Exists(Path.Combine(dir.FullName, "MLNet.Regularization.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"cannot find the repository root (build.sh, MLNet.Regularization.sln) above {AppContext.BaseDirectory}.");
    }

    private static Dictionary<string, string> ReadCentralVersions(string path) =>
        XDocument.Load(path).Descendants("PackageVersion")
            .ToDictionary(e => (string)e.Attribute("Include")!, e => (string)e.Attribute("Version")!, StringComparer.OrdinalIgnoreCase);
}
