using MLNet.Regularization.Cli;
using Xunit;

namespace MLNet.Regularization.Cli.Tests;

/// <summary>User errors: one clear line on stderr, a non-zero exit code (2 usage, 1 data), never a stack trace.</summary>
public sealed class ErrorTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static void AssertOneLine(CliResult r, int code, string expected)
    {
        Assert.True(code == r.ExitCode, r.ToString());
        var line = Assert.Single(r.ErrLines);
        Assert.StartsWith("mlnet-reg: error: ", line);
        Assert.Contains(expected, line);
        Assert.DoesNotContain(" at MLNet", r.Err);
        Assert.DoesNotContain("Exception", r.Err);
    }

    [Fact]
    public void Unknown_option() =>
        AssertOneLine(Tool.Run("train", Tool.TrainCsv, "--label", "label", "--dropuot", "0.5"), Program.UsageError, "'--dropuot'");

    [Fact]
    public void Unknown_option_in_place_of_the_data_file() =>
        AssertOneLine(Tool.Run("compare", "--frobnicate"), Program.UsageError, "unknown option '--frobnicate'");

    [Fact]
    public void Unknown_command() =>
        AssertOneLine(Tool.Run("fit", Tool.TrainCsv), Program.UsageError, "'fit'");

    [Fact]
    public void Missing_file() =>
        AssertOneLine(Tool.Run("train", _folder.File("nope.csv"), "--label", "label"), Program.DataError, $"data file '{_folder.File("nope.csv")}' does not exist");

    [Fact]
    public void Bad_csv_row_names_file_line_and_column()
    {
        string path = _folder.Write("data.csv", "x,y,label\n1,2,a\n3,4,b\n5,abc,a\n");
        AssertOneLine(Tool.Run("train", path, "--label", "label", "--output", _folder.File("m.onnx")), Program.DataError, $"{path} line 4, column 'y': 'abc' is not a number");
    }

    [Fact]
    public void Label_column_not_found() =>
        AssertOneLine(Tool.Run("compare", Tool.TrainCsv, "--label", "class"), Program.UsageError, "has no column 'class' (the label column); its columns are 'p0', 'p1'");

    [Fact]
    public void Missing_label_option() =>
        AssertOneLine(Tool.Run("train", Tool.TrainCsv), Program.UsageError, "name its label column with --label");

    [Theory]
    [InlineData("0", "hidden layer sizes must be positive, got 0 at position 1")]
    [InlineData("64,-8", "hidden layer sizes must be positive, got -8 at position 2")]
    [InlineData("64,x", "--hidden: '64,x' is not a comma-separated list of layer sizes")]
    public void Impossible_architecture(string hidden, string message) =>
        AssertOneLine(Tool.Run("train", Tool.TrainCsv, "--label", "label", "--hidden", hidden, "--output", _folder.File("m.onnx")), Program.UsageError, message);

    [Fact]
    public void Out_of_range_rate() =>
        AssertOneLine(Tool.Run("train", Tool.TrainCsv, "--label", "label", "--dropout", "1.5", "--output", _folder.File("m.onnx")), Program.UsageError, "--dropout must be in [0, 1), got 1.5");

    [Fact]
    public void Bad_spec_file()
    {
        string spec = _folder.Write("spec.json", """{ "hidden": [64], "activation": "relux" }""");
        AssertOneLine(Tool.Run("train", Tool.TrainCsv, "--label", "label", "--spec", spec, "--output", _folder.File("m.onnx")), Program.UsageError, "spec.json: unknown activation 'relux'");
        string typo = _folder.Write("typo.json", """{ "hiden": [64] }""");
        AssertOneLine(Tool.Run("train", Tool.TrainCsv, "--label", "label", "--spec", typo, "--output", _folder.File("m.onnx")), Program.DataError, "typo.json: unknown property 'hiden'");
    }

    [Fact]
    public void Conflicting_validation_options() =>
        AssertOneLine(Tool.Run("compare", Tool.TrainCsv, "--label", "label", "--folds", "3", "--holdout", "0.3"), Program.UsageError, "--folds and --holdout are alternatives");

    [Fact]
    public void Random_search_without_an_end() =>
        AssertOneLine(Tool.Run("compare", Tool.TrainCsv, "--label", "label", "--search", "random"), Program.UsageError, "random search needs an end");

    [Fact]
    public void Bad_duration_and_bad_choice()
    {
        AssertOneLine(Tool.Run("compare", Tool.TrainCsv, "--label", "label", "--time-budget", "soon"), Program.UsageError, "--time-budget: 'soon' is not a positive duration");
        AssertOneLine(Tool.Run("compare", Tool.TrainCsv, "--label", "label", "--metric", "auc"), Program.UsageError, "'auc'");
    }

    [Fact]
    public void Output_folder_missing_fails_before_training() =>
        AssertOneLine(Tool.Run("compare", Tool.TrainCsv, "--label", "label", "--report", _folder.File("no/such/report.html")), Program.DataError, "--report '");

    [Fact]
    public void Help_is_not_an_error()
    {
        var r = Tool.Run("compare", "--help");
        Assert.Equal(Program.Success, r.ExitCode);
        Assert.Contains("--time-budget", r.Out);
        Assert.Empty(r.Err);
    }
}
