using System.Globalization;
using System.Text;
using System.Text.Json;
using MLNet.Regularization.Cli;
using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx;
using Xunit;

namespace MLNet.Regularization.Cli.Tests;

/// <summary>A user's own data with no tuning flags: defaults that converge, honest comparisons, regression, images and
/// convolutional specs, and messages and output in the user's words.</summary>
public sealed class UserDataTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>Three well-separated classes in 4 features: 150 rows with an 'id' column and a 'label' column.</summary>
    private string Blobs(string name = "blobs.csv", int rows = 150, char separator = ',')
    {
        var rng = new Random(7);
        var csv = new StringBuilder(string.Join(separator, "id", "x0", "x1", "x2", "x3", "label")).Append('\n');
        for (int i = 0; i < rows; i++)
        {
            int k = i % 3;
            var cells = Enumerable.Range(0, 4).Select(j => ((j == k ? 3.0 : 0.0) + rng.NextDouble()).ToString("F4", CultureInfo.InvariantCulture));
            csv.Append(string.Join(separator, [$"row{i}", .. cells, $"class{k}"])).Append('\n');
        }

        return _folder.Write(name, csv.ToString());
    }

    private static void AssertFits80Columns(string text)
    {
        foreach (string line in text.Split('\n'))
        {
            Assert.True(line.Length <= 80, $"{line.Length} columns: {line}");
        }
    }

    [Fact]
    public void Train_without_tuning_flags_stops_early_keeps_the_best_epoch_and_says_which()
    {
        string data = Blobs();
        var r = Tool.Run("train", data, "--label", "label", "--ignore", "id", "--output", _folder.File("m.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("(135 for training, 15 for validation)", r.Out);   // 10% held out by default
        Assert.Contains("batch=16", r.Out);                                 // scaled to 135 rows
        Assert.Contains("normalization=Standard", r.Out);                   // tabular data
        using var history = JsonDocument.Parse(File.ReadAllText(_folder.File("m.history.json")));
        int kept = history.RootElement.GetProperty("modelEpoch").GetInt32();
        int ran = history.RootElement.GetProperty("epochs").GetArrayLength();
        Assert.Equal("earlyStopped", history.RootElement.GetProperty("stopReason").GetString());
        Assert.True(ran < 200 && kept == ran - 10, $"ran {ran}, kept {kept}");
        Assert.Contains($"training stopped after epoch {ran} and kept the weights of epoch {kept}.", r.Out);
        Assert.Matches(@"validation\s+accuracy 1\.0000", r.Out);
        Assert.Empty(r.Err);
    }

    [Fact]
    public void Training_cut_off_while_the_validation_loss_falls_is_warned_about()
    {
        var r = Tool.Run("train", Blobs(), "--label", "label", "--ignore", "id", "--epochs", "3", "--output", _folder.File("m.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        var warning = Assert.Single(r.ErrLines);
        Assert.Equal("mlnet-reg: warning: training used all 3 epochs while the validation loss was still falling (lowest at epoch 3); it has not converged: raise --epochs.", warning);
    }

    [Fact]
    public void Compare_by_default_cross_validates_small_data_and_marks_ties_within_80_columns()
    {
        var r = Tool.Run("compare", Blobs(), "--label", "label", "--ignore", "id", "--trials", "3", "--epochs", "15", "--output", _folder.File("best.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("5-fold cross-validation repeated 2 times, 1 seed(s) (10 run(s) per configuration)", r.Out);
        Assert.Contains("Leaderboard (validation accuracy, 10 runs: 1 seed(s) × 5 folds × 2 repeats):", r.Out);
        Assert.Contains("≈: within noise of the best (corrected resampled t-test at 5%).", r.Out);
        Assert.Matches(@"\n≈2 +dropout ", r.Out);  // all three separate these blobs perfectly: nothing beats the noise
        Assert.Contains("other configuration(s) within noise of it (≈)", r.Out);
        Assert.Contains("note: 'dropout + max-norm': max-norm 3 never bound in its best run", r.Out);
        Assert.Contains("so it trained exactly like 'dropout' (identical on every run).", r.Out);
        AssertFits80Columns(r.Out[r.Out.IndexOf("Leaderboard", StringComparison.Ordinal)..r.Out.IndexOf("best:", StringComparison.Ordinal)]);
    }

    [Fact]
    public void Compare_help_documents_the_protocol()
    {
        var r = Tool.Run("compare", "--help");
        string help = Cli.OneLine(r.Out);
        Assert.Contains("By default up to 2,000 rows are cross-validated 5-fold twice over (10 runs each), up to 10,000 rows 5-fold, larger data on a 20% holdout", help);
        Assert.Contains("Early stopping holds 10% of each training split out", help);
        Assert.Contains("corrected resampled t-test of Nadeau & Bengio", help);
    }

    [Fact]
    public void One_holdout_run_shows_no_spread_and_the_report_shows_the_test_score_and_gap_in_points()
    {
        string data = Blobs(), report = _folder.File("report.html");
        var r = Tool.Run("compare", data, "--label", "label", "--ignore", "id", "--holdout", "0.3", "--trials", "2", "--epochs", "10", "--test", data,
            "--report", report, "--output", _folder.File("best.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain("± 0.000", r.Out);
        Assert.Contains("gap: train minus validation accuracy, in percentage points.", r.Out);
        string html = File.ReadAllText(report);
        Assert.Contains("Its model on the test data (blobs.csv: 150 rows, 4 features, 3 classes): <strong>accuracy 1.0000</strong>", html);
        Assert.Contains("<th>gap (points)</th>", html);
        Assert.DoesNotContain("± 0.0000", html);
    }

    [Fact]
    public void Regression_reports_mse_mae_and_r2_and_predicts_values()
    {
        var csv = new StringBuilder("id,x,y\n");
        for (int i = 0; i < 120; i++)
        {
            double x = (i / 60.0) - 1;
            csv.Append(CultureInfo.InvariantCulture, $"r{i},{x:F4},{(2 * x) + 0.5:F4}\n");
        }

        string data = _folder.Write("line.csv", csv.ToString()), model = _folder.File("line.onnx");
        var r = Tool.Run("train", data, "--label", "y", "--task", "regression", "--ignore", "id", "--lr", "0.01", "--output", model);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Matches(@"validation\s+MSE [0-9.eE-]+\s+RMSE [0-9.eE-]+\s+MAE [0-9.eE-]+\s+R² (0\.9|1\.0)", r.Out);

        var evaluated = Tool.Run("evaluate", model, data, "--label", "y", "--ignore", "id", "--json");
        Assert.True(evaluated.ExitCode == 0, evaluated.ToString());
        using var doc = JsonDocument.Parse(evaluated.Out);
        Assert.True(doc.RootElement.GetProperty("metrics").GetProperty("rSquared").GetDouble() > 0.9);

        var predicted = Tool.Run("predict", model, data, "--ignore", "y", "--id", "id");
        Assert.True(predicted.ExitCode == 0, predicted.ToString());
        var lines = predicted.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("id,predicted", lines[0]);
        Assert.StartsWith("r0,", lines[1]);
        Assert.Equal(-1.5, double.Parse(lines[1].Split(',')[1], CultureInfo.InvariantCulture), 0.3);

        var compare = Tool.Run("compare", data, "--label", "y", "--task", "regression");
        Assert.Equal(Program.UsageError, compare.ExitCode);
        Assert.Contains("for --task regression use 'mlnet-reg train'", compare.Err);
    }

    [Fact]
    public void A_numeric_label_with_hundreds_of_values_warns_before_becoming_hundreds_of_classes()
    {
        var csv = new StringBuilder("x,target\n");
        for (int i = 0; i < 300; i++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{i % 17},{25 + (i % 214)}\n");
        }

        var r = Tool.Run("train", _folder.Write("diabetes.csv", csv.ToString()), "--label", "target", "--epochs", "1", "--output", _folder.File("m.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("mlnet-reg: warning: label column 'target' holds 214 distinct numbers in 300 rows, so it becomes 239 classes (fewer than 20 rows each); if it is a quantity to predict, use --task regression.", r.ErrLines);
    }

    [Fact]
    public void Images_default_to_one_normalization_per_channel()
    {
        var r = Tool.Run("train", Tool.Idx("train-images-idx3-ubyte.gz"), "--labels", Tool.Idx("train-labels-idx1-ubyte.gz"), "--hidden", "16", "--epochs", "1", "--output", _folder.File("m.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("normalization=PerChannel", r.Out);
        var model = OnnxImporter.Load(_folder.File("m.onnx"));
        Assert.Single(model.Normalizer!.Scale.ToArray().Distinct());
    }

    [Fact]
    public void A_convolutional_spec_trains_on_csv_rows_with_input_shape_and_on_a_folder_of_images()
    {
        string spec = _folder.Write("cnn.json", """
            { "layers": [ { "type": "conv2d", "filters": 4, "kernel": 3, "padding": "same" }, { "type": "relu" },
                          { "type": "maxpool2d" }, { "type": "flatten" } ],
              "training": { "epochs": 2 } }
            """);
        var missing = Tool.Run("train", Tool.TrainCsv, "--label", "label", "--spec", spec, "--output", _folder.File("c.onnx"));
        Assert.Equal(Program.UsageError, missing.ExitCode);
        Assert.Contains("give their shape with --input-shape (such as 1,28,28)", missing.Err);

        var csv = Tool.Run("train", Tool.TrainCsv, "--label", "label", "--spec", spec, "--input-shape", "1,7,7", "--output", _folder.File("c.onnx"));
        Assert.True(csv.ExitCode == 0, csv.ToString());
        Assert.Equal([1, 7, 7], OnnxImporter.Load(_folder.File("c.onnx")).InputShape);
        Assert.Contains("normalization=PerChannel", csv.Out);
        var csvEvaluated = Tool.Run("evaluate", _folder.File("c.onnx"), Tool.TestCsv, "--label", "label");  // the model's shape, no --input-shape
        Assert.True(csvEvaluated.ExitCode == 0, csvEvaluated.ToString());

        // A folder of PNG files, one sub-folder per class; evaluate and predict read folders too.
        var (train, _) = SampleData.LoadFashionMnistSmall(asImages: true);
        string images = _folder.File("images");
        SampleData.WriteImageFolder(train, images, limit: 120);
        string model = _folder.File("folder.onnx");
        var folder = Tool.Run("train", images, "--spec", spec, "--output", model);
        Assert.True(folder.ExitCode == 0, folder.ToString());
        Assert.Contains("images: 120 images, 784 features [1, 28, 28], 10 classes", folder.Out);
        var evaluated = Tool.Run("evaluate", model, images, "--json");
        Assert.True(evaluated.ExitCode == 0, evaluated.ToString());
        string someClass = Directory.GetDirectories(images).Order(StringComparer.Ordinal).First();
        var predicted = Tool.Run("predict", model, someClass);
        Assert.True(predicted.ExitCode == 0, predicted.ToString());
        var lines = predicted.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("file,predicted,p_", lines[0]);
        Assert.Equal(Directory.GetFiles(someClass).Length + 1, lines.Length);
    }

    [Fact]
    public void A_recurrent_spec_reads_csv_rows_as_sequences_with_input_shape()
    {
        // 49 features as 7 steps of 7 values, given on the command line instead of a reshape layer in the spec.
        string spec = _folder.Write("lstm.json", """{ "layers": [ { "type": "lstm", "units": 8 } ], "training": { "epochs": 1 } }""");
        string model = _folder.File("lstm.onnx");
        var r = Tool.Run("train", Tool.TrainCsv, "--label", "label", "--spec", spec, "--input-shape", "7,7", "--output", model);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal([7, 7], OnnxImporter.Load(model).InputShape);
        var evaluated = Tool.Run("evaluate", model, Tool.TestCsv, "--label", "label");
        Assert.True(evaluated.ExitCode == 0, evaluated.ToString());
    }

    [Fact]
    public void Predict_passes_id_columns_through()
    {
        string data = Blobs(), model = _folder.File("m.onnx");
        Assert.Equal(0, Tool.Run("train", data, "--label", "label", "--ignore", "id", "--epochs", "5", "--output", model).ExitCode);
        var r = Tool.Run("predict", model, data, "--ignore", "label", "--id", "id");
        Assert.True(r.ExitCode == 0, r.ToString());
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("id,predicted,p_class0,p_class1,p_class2", lines[0]);
        Assert.Equal(Enumerable.Range(0, 150).Select(i => $"row{i}"), lines.Skip(1).Select(l => l.Split(',')[0]));
        Assert.Equal(
            $"mlnet-reg: error: {data} has 5 feature columns but the model expects 4; leave out extra columns (a label, an id) with --ignore, or copy an id to the output with --id.",
            Assert.Single(Tool.Run("predict", model, data, "--ignore", "label").ErrLines));
        var typo = Tool.Run("predict", model, data, "--ignore", "label", "--id", "ID");
        Assert.Contains("--id: ", typo.Err);
        Assert.Contains("has no column 'ID'; did you mean 'id'?", typo.Err);
    }

    [Theory]
    [InlineData("--batch-size 0", "mlnet-reg: error: --batch-size must be at least 1, got 0.")]
    [InlineData("--epochs 0", "mlnet-reg: error: --epochs must be at least 1, got 0.")]
    [InlineData("--lr -1", "mlnet-reg: error: --lr must be a positive number, got -1.")]
    [InlineData("--dropuot 0.5", "mlnet-reg: error: unknown option '--dropuot'; did you mean --dropout? (see 'mlnet-reg train --help')")]
    [InlineData("--patience 5 --validation 0", "mlnet-reg: error: --patience watches the validation loss, but --validation 0 holds no validation data out: give --validation a fraction such as 0.1, or leave --patience out.")]
    public void Option_errors_are_worded_with_option_names(string options, string expected)
    {
        var r = Tool.Run(["train", Blobs(), "--label", "label", "--ignore", "id", .. options.Split(' '), "--output", _folder.File("m.onnx")]);
        Assert.Equal(Program.UsageError, r.ExitCode);
        Assert.Equal(expected, Assert.Single(r.ErrLines));
    }

    [Fact]
    public void Data_errors_suggest_the_option_that_fixes_them()
    {
        string data = Blobs();
        Assert.Equal(
            $"mlnet-reg: error: --label: {data} has no column 'Label' (the label column); did you mean 'label'? (column names are case-sensitive)",
            Assert.Single(Tool.Run("train", data, "--label", "Label").ErrLines));
        Assert.Equal(
            $"mlnet-reg: error: {data} line 2, column 'id': 'row0' is not a number. If 'id' is not a feature (an id, a name, free text), leave it out with --ignore id.",
            Assert.Single(Tool.Run("train", data, "--label", "label", "--output", _folder.File("m.onnx")).ErrLines));
        string semicolons = Blobs("semicolons.csv", separator: ';');
        Assert.Equal(
            $"mlnet-reg: error: {semicolons} has one column 'id;x0;x1;x2;x3;label' when read with the separator ','; its header looks separated by ';': add --separator ';'.",
            Assert.Single(Tool.Run("train", semicolons, "--label", "label").ErrLines));
        Assert.StartsWith(
            "mlnet-reg: error: unknown command 'trian'; did you mean 'train'? The commands are train, compare, evaluate, predict",
            Assert.Single(Tool.Run("trian", data).ErrLines));
    }

    [Fact]
    public void Epoch_lines_stay_on_screen_after_the_progress_bar()
    {
        var r = Tool.RunInteractive("train", Blobs(), "--label", "label", "--ignore", "id", "--epochs", "4", "--output", _folder.File("m.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (int epoch in new[] { 1, 2, 3, 4 })
        {
            Assert.Contains($"epoch   {epoch}/4  train loss ", r.Out);
        }

        Assert.Contains("<- kept", r.Out);
    }

    [Theory]
    [InlineData("CnnComparison")]
    [InlineData("RegularizationComparison")]
    public void Samples_print_their_usage_instead_of_a_stack_trace(string sample)
    {
        string dll = Path.Combine(Tool.Root, "samples", sample, "bin", "Release", "net10.0", sample + ".dll");
        Assert.True(File.Exists(dll), $"build the solution first: {dll} is missing");
        var help = RunSample(dll, "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.StartsWith($"usage: {sample} [--data DIR]", help.Out);
        var missing = RunSample(dll, "--data", _folder.File("no-such-folder"));
        Assert.Equal(2, missing.ExitCode);
        Assert.StartsWith($"{sample}: --data: folder '{_folder.File("no-such-folder")}' does not exist.", missing.Err);
        Assert.Contains($"usage: {sample}", missing.Err);
        Assert.DoesNotContain("   at ", missing.Err);
    }

    /// <summary>Runs a sample program ('dotnet sample.dll ...') in a child process.</summary>
    private static CliResult RunSample(string dll, params string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (string a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), $"{dll} did not stop within 60 s");
        return new CliResult(process.ExitCode, stdout, stderr.GetAwaiter().GetResult());
    }
}
