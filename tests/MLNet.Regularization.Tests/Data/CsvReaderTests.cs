using MLNet.Regularization.Data;
using Xunit;

namespace MLNet.Regularization.Tests.Data;

public sealed class CsvReaderTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void IntegerLabels_AreClassIndices()
    {
        string path = _dir.WriteText("iris.csv",
            "sepal_length,sepal_width,species",
            "5.1,3.5,0",
            "",
            "7.0,3.2,2",
            "6.3,-1e-1,1",
            "");

        var data = CsvReader.Load(path, "species");
        Assert.Equal(TaskKind.Multiclass, data.Task);
        Assert.Equal(3, data.Count);
        Assert.Equal([2], data.SampleShape);
        Assert.Equal(3, data.ClassCount);
        Assert.Null(data.ClassNames);
        Assert.Equal([0, 2, 1], data.Labels!);
        Assert.Equal([5.1f, 3.5f, 7.0f, 3.2f, 6.3f, -0.1f], data.Features.Data);
    }

    [Fact]
    public void StringLabels_AreNumberedInOrdinalOrder_AndNamed()
    {
        string path = _dir.WriteText("animals.csv",
            "name,legs,kind,weight",
            "rex,4,dog,30",
            "tom,4,cat,4",
            "\"polly, the parrot\",2,bird,0.5",
            "felix,4,cat,5");

        var data = CsvReader.Load(path, "kind", new CsvOptions { IgnoreColumns = ["name"] });
        Assert.Equal(["bird", "cat", "dog"], data.ClassNames!);
        Assert.Equal([2, 1, 0, 1], data.Labels!);
        Assert.Equal([4f, 30f, 4f, 4f, 2f, 0.5f, 4f, 5f], data.Features.Data);

        // A test file without 'bird' keeps the training file's numbering when given its class names.
        string test = _dir.WriteText("test.csv", "name,legs,kind,weight", "odie,4,dog,20", "garfield,4,cat,9");
        var testData = CsvReader.Load(test, "kind", new CsvOptions { IgnoreColumns = ["name"], ClassNames = data.ClassNames });
        Assert.Equal([2, 1], testData.Labels!);
        Assert.Equal(3, testData.ClassCount);
    }

    [Fact]
    public void QuotedCells_HoldSeparatorsAndDoubledQuotes()
    {
        string path = _dir.WriteText("q.csv", "\"a\",\"the \"\"label\"\"\"", "\"1.5\" , \"x,y\"", " 2 ,z");

        var data = CsvReader.Load(path, "the \"label\"");
        Assert.Equal(["x,y", "z"], data.ClassNames!);
        Assert.Equal([1.5f, 2f], data.Features.Data);
    }

    [Fact]
    public void UnclosedQuote_IsReported()
    {
        string path = _dir.WriteText("open.csv", "a,b", "1,\"oops");
        var e = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "b"));
        Assert.Contains("open.csv line 2", e.Message);
        Assert.Contains("not closed", e.Message);
    }

    [Fact]
    public void Regression_ParsesTheTargetAsNumber()
    {
        string path = _dir.WriteText("houses.csv", "rooms;area;price", "3;70.5;250000", "5;120;4.1e5");

        var data = CsvReader.Load(path, "price", new CsvOptions { Separator = ';', Task = TaskKind.Regression });
        Assert.Equal(TaskKind.Regression, data.Task);
        Assert.Equal([250000f, 410000f], data.Targets!);
        Assert.Equal([3f, 70.5f, 5f, 120f], data.Features.Data);
    }

    [Fact]
    public void Binary_AcceptsZeroOneOrTwoNames()
    {
        string numeric = _dir.WriteText("b1.csv", "x,y", "1,0", "2,1", "3,1");
        var a = CsvReader.Load(numeric, "y", new CsvOptions { Task = TaskKind.Binary });
        Assert.Equal(TaskKind.Binary, a.Task);
        Assert.Equal([0, 1, 1], a.Labels!);

        string named = _dir.WriteText("b2.csv", "x\ty", "1\tyes", "2\tno");
        var b = CsvReader.Load(named, "y", new CsvOptions { Task = TaskKind.Binary, Separator = '\t' });
        Assert.Equal(["no", "yes"], b.ClassNames!);
        Assert.Equal([1, 0], b.Labels!);

        string three = _dir.WriteText("b3.csv", "x,y", "1,a", "2,b", "3,c");
        var e = Assert.Throws<InvalidDataException>(() => CsvReader.Load(three, "y", new CsvOptions { Task = TaskKind.Binary }));
        Assert.Contains("exactly 2 distinct labels", e.Message);
        Assert.Contains("found 3", e.Message);
    }

    [Fact]
    public void NonNumericCell_NamesFileLineAndColumn()
    {
        string path = _dir.WriteText("data.csv", "sepal,petal_width,label", "1,2,0", "3,abc,1");

        var e = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "label"));
        Assert.Contains("data.csv line 3, column 'petal_width': 'abc' is not a number", e.Message);
    }

    [Fact]
    public void DecimalComma_GetsAHint()
    {
        string path = _dir.WriteText("fr.csv", "a;b", "1,5;0", "2;1");
        var e = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "b", new CsvOptions { Separator = ';' }));
        Assert.Contains("line 2, column 'a': '1,5' is not a number", e.Message);
        Assert.Contains("decimal separator", e.Message);
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    [InlineData("1e39")]
    public void NonFiniteCell_IsRejected(string cell)
    {
        string path = _dir.WriteText("nan.csv", "a,b,y", "1,2,0", $"3,{cell},1");
        var e = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "y"));
        Assert.Contains($"nan.csv line 3, column 'b': '{cell}' is not a finite number", e.Message);
    }

    [Fact]
    public void EmptyCell_IsAMissingValue()
    {
        string path = _dir.WriteText("gap.csv", "a,b,y", "1,,0");
        var e = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "y"));
        Assert.Contains("line 2, column 'b'", e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void MissingLabelColumn_ListsTheColumns()
    {
        string path = _dir.WriteText("cols.csv", "alpha,beta,gamma", "1,2,3");
        var e = Assert.Throws<ArgumentException>(() => CsvReader.Load(path, "species"));
        Assert.Contains("no column 'species'", e.Message);
        Assert.Contains("'alpha', 'beta', 'gamma'", e.Message);
        Assert.Equal("labelColumn", e.ParamName);

        var ignored = Assert.Throws<ArgumentException>(() => CsvReader.Load(path, "gamma", new CsvOptions { IgnoreColumns = ["delta"] }));
        Assert.Contains("no column 'delta'", ignored.Message);
    }

    [Fact]
    public void WrongCellCount_NamesLineAndCounts()
    {
        string path = _dir.WriteText("ragged.csv", "a,b,y", "1,2,0", "3,1", "4,5,1");
        var e = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "y"));
        Assert.Contains("ragged.csv line 3: 2 cells, expected 3", e.Message);
    }

    [Fact]
    public void EmptyFile_AndHeaderOnly_AreReported()
    {
        string empty = _dir.WriteText("empty.csv", "");
        var e1 = Assert.Throws<InvalidDataException>(() => CsvReader.Load(empty, "y"));
        Assert.Contains("empty.csv is empty", e1.Message);

        string headerOnly = _dir.WriteText("header.csv", "a,y", "");
        var e2 = Assert.Throws<InvalidDataException>(() => CsvReader.Load(headerOnly, "y"));
        Assert.Contains("header.csv has a header but no data rows", e2.Message);
    }

    [Fact]
    public void BadHeaders_AreReported()
    {
        string dup = _dir.WriteText("dup.csv", "a,b,a", "1,2,3");
        Assert.Contains("'a' appears twice", Assert.Throws<InvalidDataException>(() => CsvReader.Load(dup, "b")).Message);

        string blank = _dir.WriteText("blank.csv", "a,,y", "1,2,0");
        Assert.Contains("header cell 2 is empty", Assert.Throws<InvalidDataException>(() => CsvReader.Load(blank, "y")).Message);
    }

    [Fact]
    public void SingleClass_AndUnknownClass_AreReported()
    {
        string one = _dir.WriteText("one.csv", "a,y", "1,cat", "2,cat");
        Assert.Contains("a classifier needs at least 2 classes", Assert.Throws<InvalidDataException>(() => CsvReader.Load(one, "y")).Message);

        string unknown = _dir.WriteText("unknown.csv", "a,y", "1,cat", "2,emu");
        var e = Assert.Throws<InvalidDataException>(() => CsvReader.Load(unknown, "y", new CsvOptions { ClassNames = ["cat", "dog"] }));
        Assert.Contains("unknown.csv line 3, column 'y': label 'emu' is not one of the classes 'cat', 'dog'", e.Message);
    }

    [Fact]
    public void ReadFeatures_ReturnsRowsAndColumnNames()
    {
        string path = _dir.WriteText("predict.csv", "id,x1,x2", "a,1,2", "b,3,4", "c,5,6");

        var (features, rows, columns) = CsvReader.ReadFeatures(path, new CsvOptions { IgnoreColumns = ["id"] });
        Assert.Equal(3, rows);
        Assert.Equal(["x1", "x2"], columns);
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f], features);
        Assert.Equal(["id", "x1", "x2"], CsvReader.ReadHeader(path));

        var e = Assert.Throws<InvalidDataException>(() => CsvReader.ReadFeatures(path));
        Assert.Contains("line 2, column 'id': 'a' is not a number", e.Message);
    }

    [Fact]
    public void BadOptions_AreArgumentErrors()
    {
        string path = _dir.WriteText("ok.csv", "a,y", "1,0", "2,1");
        Assert.Throws<ArgumentException>(() => CsvReader.Load(path, "y", new CsvOptions { Separator = '"' }));
        Assert.Throws<ArgumentException>(() => CsvReader.Load(path, "y", new CsvOptions { IgnoreColumns = ["y"] }));
        Assert.Throws<ArgumentException>(() => CsvReader.Load(path, "y", new CsvOptions { Task = TaskKind.Binary, ClassNames = ["a", "b", "c"] }));
        Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "y", new CsvOptions { IgnoreColumns = ["a"] }));
        Assert.Throws<FileNotFoundException>(() => CsvReader.Load(_dir.File("missing.csv"), "y"));
    }
}
