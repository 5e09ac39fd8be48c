using System.CommandLine;
using System.Globalization;
using System.Text;
using MLNet.Regularization.Data;
using MLNet.Regularization.Reporting;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Cli.Commands;

/// <summary><c>mlnet-reg predict</c>: CSV rows or image files in, CSV of predictions out (ids passed through).</summary>
internal static class PredictCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("predict", "Predict the rows of a CSV file (or the image files of a folder): writes a CSV with the predicted class and one probability column per class (the predicted value for a regression model), after the --id columns; with --mc-samples also the Monte Carlo dropout mean, variance and entropy.");
        var modelPath = Arguments.File("model", "The ONNX model (from train or compare; for --mc-samples, its Monte Carlo variant from --mc-output).");
        var inputPath = Arguments.File("input", "CSV file with a header row (every column not listed in --ignore or --id is a feature, in the training order), or a folder of image files.");
        var data = new DataOptions();
        var ids = new Option<string[]>("--id")
        {
            Description = "CSV columns to copy into the output in front of the predictions, such as an id (comma-separated or repeated); they are not features. For a folder, the file name always comes first.",
            HelpName = "columns",
        };
        var output = Options.Text("--output", "The CSV to write (default: standard output).", "file");
        output.Aliases.Add("-o");
        var samples = Options.Int("--mc-samples", "Monte Carlo dropout passes (at least 2): adds mc_predicted, mean_<class>, variance_<class>, entropy and mutual_information columns.");
        var seed = Options.Int("--seed", "Seed of the Monte Carlo dropout masks (default 0).");
        var quiet = Options.Flag("--quiet", "Print nothing but errors when writing to --output.");
        command.Add(modelPath);
        command.Add(inputPath);
        command.Add(data.Ignore);
        command.Add(ids);
        command.Add(data.Separator);
        command.Add(data.InputShape);
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
            if (!Directory.Exists(input))
            {
                DataOptions.RequireFile(input, "input file");
            }

            var model = ModelFiles.Load(path);
            if (mc is not null && !model.Network.Layers.Any(l => l.IsStochastic))
            {
                throw new UsageException($"'{path}' has no active dropout layers, so Monte Carlo samples would all agree: export the Monte Carlo variant with 'mlnet-reg train ... --mc-output model.mc.onnx' and predict with that file.");
            }

            if (mc is not null && model.Task == TaskKind.Regression)
            {
                throw new UsageException("--mc-samples gives class-probability statistics; it does not apply to a regression model.");
            }

            var (x, rows, passThrough) = Directory.Exists(input)
                ? ReadImages(input, model, DataOptions.ParseShape(r.GetValue(data.InputShape)))
                : ReadCsv(input, model, data.CsvOptions(r), Options.List(r.GetValue(ids)));
            var csv = Write(model, x, mc, r.Given(seed) ?? 0, passThrough);
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

    /// <summary>Columns copied in front of the predictions: their names and one row of cells per example.</summary>
    private sealed record PassThrough(IReadOnlyList<string> Names, IReadOnlyList<string[]> Rows);

    private static (Tensor X, int Rows, PassThrough PassThrough) ReadCsv(string input, TrainedModel model, CsvOptions csvOptions, string[] ids)
    {
        // The --id columns are not features; check the column count from the header first: a label column left in
        // would otherwise fail as "not a number".
        csvOptions = new CsvOptions { Separator = csvOptions.Separator, Limits = csvOptions.Limits, IgnoreColumns = [.. csvOptions.IgnoreColumns, .. ids.Except(csvOptions.IgnoreColumns)] };
        int expected = model.InputShape.Aggregate(1, (a, b) => a * b);
        var header = CsvReader.ReadHeader(input, csvOptions);
        DataOptions.CheckSeparator(input, header, csvOptions.Separator);
        foreach (string id in ids.Where(i => !header.Contains(i)))
        {
            string? near = Suggestions.Nearest(id, header);
            throw new UsageException($"--id: {input} has no column '{id}'{(near is null ? "" : $"; did you mean '{near}'?")}");
        }

        int given = header.Count(h => !csvOptions.IgnoreColumns.Contains(h));
        if (given != expected && csvOptions.IgnoreColumns.All(header.Contains))
        {
            throw new InvalidDataException($"{input} has {given} feature columns but the model expects {expected}; leave out extra columns (a label, an id) with --ignore, or copy an id to the output with --id.");
        }

        var (features, rows, _) = DataOptions.WithHint(() => CsvReader.ReadFeatures(input, csvOptions), "leave it out with --ignore, or copy it to the output with --id");
        var passThrough = new PassThrough(ids, ids.Length == 0 ? [] : CsvReader.ReadColumns(input, ids, csvOptions));
        return (new Tensor(features, [rows, .. model.InputShape]), rows, passThrough);
    }

    private static (Tensor X, int Rows, PassThrough PassThrough) ReadImages(string folder, TrainedModel model, int[]? shape)
    {
        shape ??= model.InputShape.Length == 3 ? model.InputShape : null;
        var (pixels, sampleShape, files) = ImageFolder.LoadUnlabelled(folder, shape);
        int expected = model.InputShape.Aggregate(1, (a, b) => a * b);
        if (pixels.Length / files.Length != expected)
        {
            throw new InvalidDataException($"the images in '{folder}' have shape [{string.Join(", ", sampleShape)}] but the model expects {expected} values per example: give --input-shape C,H,W to resize them.");
        }

        return (new Tensor(pixels, [files.Length, .. model.InputShape]), files.Length, new PassThrough(["file"], files.Select(f => new[] { Path.GetFileName(f) }).ToArray()));
    }

    private static string Write(TrainedModel model, Tensor x, int? mcSamples, int seed, PassThrough passThrough)
    {
        int n = x.BatchSize;
        var csv = new StringBuilder();
        var header = new List<string>(passThrough.Names);
        if (model.Task == TaskKind.Regression)
        {
            var values = model.PredictValues(x);
            int width = model.TargetSize;
            header.AddRange(width == 1 ? ["predicted"] : Enumerable.Range(0, width).Select(t => $"predicted_{t}"));
            csv.AppendJoin(',', header.Select(Quote)).Append('\n');
            for (int i = 0; i < n; i++)
            {
                var cells = passThrough.Rows.Count > 0 ? passThrough.Rows[i].Select(Quote) : [];
                csv.AppendJoin(',', cells.Concat(values.AsSpan(i * width, width).ToArray().Select(Number))).Append('\n');
            }

            return csv.ToString();
        }

        var classes = JsonOutput.ClassNames(model);
        int k = model.ProbabilityWidth;
        var p = model.PredictProbabilities(x);
        var mc = mcSamples is int t ? model.PredictWithUncertainty(x, t, seed) : null;
        var mcLabels = mc?.PredictedLabels();

        header.Add("predicted");
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
            foreach (string cell in passThrough.Rows.Count > 0 ? passThrough.Rows[i] : [])
            {
                csv.Append(Quote(cell)).Append(',');
            }

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
