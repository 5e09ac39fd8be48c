using System.CommandLine;
using System.Globalization;
using System.Text;
using MLNet.Regularization.Data;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Cli.Commands;

/// <summary><c>mlnet-reg predict</c>: CSV in, CSV of class probabilities out.</summary>
internal static class PredictCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("predict", "Predict classes for the rows of a CSV file: writes a CSV with the predicted class and one probability column per class; with --mc-samples also the Monte Carlo dropout mean, variance and entropy.");
        var modelPath = Arguments.File("model", "The ONNX model (from train or compare; for --mc-samples, its Monte Carlo variant from --mc-output).");
        var inputPath = Arguments.File("input", "CSV file with a header row; every column not listed in --ignore is a feature, in the training order.");
        var data = new DataOptions();
        var output = Options.Text("--output", "The CSV to write (default: standard output).", "file");
        output.Aliases.Add("-o");
        var samples = Options.Int("--mc-samples", "Monte Carlo dropout passes (at least 2): adds mc_predicted, mean_<class>, variance_<class>, entropy and mutual_information columns.");
        var seed = Options.Int("--seed", "Seed of the Monte Carlo dropout masks (default 0).");
        var quiet = Options.Flag("--quiet", "Print nothing but errors when writing to --output.");
        command.Add(modelPath);
        command.Add(inputPath);
        command.Add(data.Ignore);
        command.Add(data.Separator);
        command.Add(output);
        command.Add(samples);
        command.Add(seed);
        command.Add(quiet);

        command.SetAction(r => Cli.Guard(context, () =>
        {
            string path = r.GetValue(modelPath)!, input = r.GetValue(inputPath)!;
            string? outputPath = r.GetValue(output);
            int? mc = r.Given(samples);
            if (mc is < 2)
            {
                throw new UsageException($"--mc-samples must be at least 2, got {mc}.");
            }

            Options.RequireFolder(outputPath, "--output");
            DataOptions.RequireFile(path, "model file");
            DataOptions.RequireFile(input, "input file");
            var model = ModelFiles.Load(path);
            if (model.Task == TaskKind.Regression)
            {
                throw new UsageException($"'{path}' is a regression model; predict writes class probabilities.");
            }

            if (mc is not null && !model.Network.Layers.Any(l => l.IsStochastic))
            {
                throw new UsageException($"'{path}' has no active dropout layers, so Monte Carlo samples would all agree: export the Monte Carlo variant with 'mlnet-reg train ... --mc-output model.mc.onnx' and predict with that file.");
            }

            // Check the column count from the header first: a label column left in would otherwise fail as "not a number".
            var csvOptions = data.CsvOptions(r);
            int expected = model.InputShape.Aggregate(1, (a, b) => a * b);
            var header = CsvReader.ReadHeader(input, csvOptions);
            int given = header.Count(h => !csvOptions.IgnoreColumns.Contains(h));
            if (given != expected && csvOptions.IgnoreColumns.All(header.Contains))
            {
                throw new InvalidDataException($"{input} has {given} feature columns but the model expects {expected}; leave out extra columns (a label, an id) with --ignore.");
            }

            var (features, rows, _) = CsvReader.ReadFeatures(input, csvOptions);

            var x = new Tensor(features, [rows, .. model.InputShape]);
            var csv = Write(model, x, mc, r.Given(seed) ?? 0);
            if (outputPath is null)
            {
                context.Out.Write(csv);
            }
            else
            {
                AtomicFile.WriteAllText(outputPath, csv);
                if (!r.GetValue(quiet))
                {
                    context.Out.WriteLine($"wrote {rows} predictions to {outputPath}");
                }
            }

            return Program.Success;
        }));
        return command;
    }

    private static string Write(TrainedModel model, Tensor x, int? mcSamples, int seed)
    {
        var classes = JsonOutput.ClassNames(model);
        int k = model.ProbabilityWidth, n = x.BatchSize;
        var p = model.PredictProbabilities(x);
        var mc = mcSamples is int t ? model.PredictWithUncertainty(x, t, seed) : null;
        var mcLabels = mc?.PredictedLabels();

        var csv = new StringBuilder();
        var header = new List<string> { "predicted" };
        header.AddRange(classes.Select(c => $"p_{c}"));
        if (mc is not null)
        {
            header.Add("mc_predicted");
            header.AddRange(classes.Select(c => $"mean_{c}"));
            header.AddRange(classes.Select(c => $"variance_{c}"));
            header.Add("entropy");
            header.Add("mutual_information");
        }

        csv.AppendJoin(',', header.Select(Quote)).Append('\n');
        for (int i = 0; i < n; i++)
        {
            var row = p.AsSpan(i * k, k);
            csv.Append(Quote(classes[Metrics.PredictedClasses(row, k)[0]]));
            foreach (float v in row)
            {
                csv.Append(',').Append(Number(v));
            }

            if (mc is not null)
            {
                csv.Append(',').Append(Quote(classes[mcLabels![i]]));
                for (int c = 0; c < k; c++)
                {
                    csv.Append(',').Append(Number(mc.MeanProbabilities[(i * k) + c]));
                }

                for (int c = 0; c < k; c++)
                {
                    csv.Append(',').Append(Number(mc.Variance[(i * k) + c]));
                }

                csv.Append(',').Append(Number(mc.PredictiveEntropy[i])).Append(',').Append(Number(mc.MutualInformation[i]));
            }

            csv.Append('\n');
        }

        return csv.ToString();
    }

    private static string Number(float v) => v.ToString("G7", CultureInfo.InvariantCulture);

    /// <summary>RFC 4180 quoting for a cell that holds a comma, a quote or a line break.</summary>
    private static string Quote(string cell) =>
        cell.IndexOfAny([',', '"', '\n', '\r']) < 0 ? cell : $"\"{cell.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
}
