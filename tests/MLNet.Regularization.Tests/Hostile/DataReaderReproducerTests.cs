using MLNet.Regularization.Data;
using MLNet.Regularization.Tests.Data;
using Xunit;

namespace MLNet.Regularization.Tests.Hostile;

/// <summary>The IDX and CSV reproducers of issue 15: each failed (allocated what a header claimed, overflowed, or
/// silently invented a class) before the readers checked <see cref="ReaderLimits"/>.</summary>
public sealed class DataReaderReproducerTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>Bytes allocated on this thread while <paramref name="action"/> ran.</summary>
    internal static long Allocated(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void An_11_byte_label_file_claiming_two_billion_labels_is_refused_before_allocating()
    {
        // 00 00 08 01 | 77 35 94 00 (2,000,000,000) | 3 labels
        string path = _folder.WriteBytes("labels.idx", [0x00, 0x00, 0x08, 0x01, 0x77, 0x35, 0x94, 0x00, 0x09, 0x02, 0x01]);
        InvalidDataException? error = null;
        long bytes = Allocated(() => error = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(path)));
        Assert.Contains("ReaderLimits.MaxSampleCount", error!.Message);
        Assert.Contains("2,000,000,000 labels", error.Message);
        Assert.True(bytes < 1 << 20, $"allocated {bytes:N0} bytes for an 11-byte file");
    }

    [Fact]
    public void A_truncated_file_under_the_limits_costs_what_it_holds_not_what_it_promises()
    {
        // 50,000,000 labels promised (within the default limits), 3 present.
        string path = _folder.WriteBytes("labels.idx", [0x00, 0x00, 0x08, 0x01, 0x02, 0xFA, 0xF0, 0x80, 0x09, 0x02, 0x01]);
        InvalidDataException? error = null;
        long bytes = Allocated(() => error = Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(path)));
        Assert.Contains("truncated", error!.Message);
        Assert.True(bytes < 4 << 20, $"allocated {bytes:N0} bytes to find 3 of 50,000,000 labels");
    }

    [Fact]
    public void Idx_limits_can_be_lowered_and_name_themselves()
    {
        string images = _folder.File("images.idx");
        string labels = _folder.File("labels.idx");
        IdxWriter.WriteImages(images, new byte[10 * 4 * 4], 4, 4, gzip: false);
        IdxWriter.WriteLabels(labels, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        Assert.Equal(10, IdxReader.LoadDataset(images, labels).Count);

        var samples = Assert.Throws<InvalidDataException>(() => IdxReader.LoadDataset(images, labels, limits: new ReaderLimits { MaxSampleCount = 9 }));
        Assert.Contains("ReaderLimits.MaxSampleCount (9)", samples.Message);
        Assert.Contains("raise it", samples.Message);
        var values = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(images, limits: new ReaderLimits { MaxTensorElements = 100 }));
        Assert.Contains("ReaderLimits.MaxTensorElements (100)", values.Message);
        var file = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(images, limits: new ReaderLimits { MaxFileBytes = 100 }));
        Assert.Contains("ReaderLimits.MaxFileBytes (100)", file.Message);
    }

    [Fact]
    public void Csv_labels_of_int_MaxValue_are_refused_by_the_class_limit_not_overflowed()
    {
        string path = _folder.WriteText("max.csv", "x,label", "1,2147483647", "2,2147483647");
        var error = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "label"));
        Assert.Contains("ReaderLimits.MaxClassCount", error.Message);
        Assert.Contains("line 2", error.Message);
        Assert.DoesNotContain("-2147483648", error.Message);
    }

    [Fact]
    public void One_csv_label_of_999999999_does_not_make_a_billion_class_dataset()
    {
        string path = _folder.WriteText("big.csv", "x,label", "1,0", "2,1", "3,999999999", "4,2");
        var error = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "label"));
        Assert.Contains("line 4", error.Message);
        Assert.Contains("label 999999999", error.Message);
        Assert.Contains("ReaderLimits.MaxClassCount (100,000)", error.Message);

        // A user who really has that many classes raises the limit.
        var data = CsvReader.Load(path, "label", new CsvOptions { Limits = new ReaderLimits { MaxClassCount = 1_000_000_000 } });
        Assert.Equal(1_000_000_000, data.ClassCount);
    }

    [Fact]
    public void A_stray_name_among_integer_labels_is_an_error_not_an_extra_class()
    {
        string path = _folder.WriteText("mixed.csv", "x,label", "1,0", "2,1", "3,abc", "4,2");
        var error = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "label"));
        Assert.Contains("line 4, column 'label'", error.Message);
        Assert.Contains("'abc' is not a class index", error.Message);
        Assert.Contains("CsvOptions.ClassNames", error.Message);

        // Named on purpose: all four labels are names.
        var named = CsvReader.Load(path, "label", new CsvOptions { ClassNames = ["0", "1", "2", "abc"] });
        Assert.Equal(4, named.ClassCount);
    }

    [Fact]
    public void Csv_limits_cover_lines_rows_values_and_file_size()
    {
        string path = _folder.WriteText("ok.csv", "a,b,label", "1,2,0", "3,4,1", "5,6,0");
        var line = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "label", new CsvOptions { Limits = new ReaderLimits { MaxStringLength = 4 } }));
        Assert.Contains("line 1", line.Message);
        Assert.Contains("ReaderLimits.MaxStringLength (4)", line.Message);
        var rows = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "label", new CsvOptions { Limits = new ReaderLimits { MaxSampleCount = 2 } }));
        Assert.Contains("ReaderLimits.MaxSampleCount (2)", rows.Message);
        var values = Assert.Throws<InvalidDataException>(() => CsvReader.ReadFeatures(path, new CsvOptions { Limits = new ReaderLimits { MaxTensorElements = 5 } }));
        Assert.Contains("ReaderLimits.MaxTensorElements (5)", values.Message);
        var size = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "label", new CsvOptions { Limits = new ReaderLimits { MaxFileBytes = 8 } }));
        Assert.Contains("ReaderLimits.MaxFileBytes (8)", size.Message);
        var classes = Assert.Throws<InvalidDataException>(() => CsvReader.Load(path, "label", new CsvOptions { Limits = new ReaderLimits { MaxClassCount = 1 } }));
        Assert.Contains("ReaderLimits.MaxClassCount (1)", classes.Message);
    }

    [Fact]
    public void A_line_without_end_is_read_no_further_than_the_string_limit()
    {
        string path = _folder.WriteText("long.csv", "x,label\n" + new string('7', 3_000_000));
        InvalidDataException? error = null;
        long bytes = Allocated(() => error = Assert.Throws<InvalidDataException>(() =>
            CsvReader.Load(path, "label", new CsvOptions { Limits = new ReaderLimits { MaxStringLength = 100_000 } })));
        Assert.Contains("line 2", error!.Message);
        Assert.True(bytes < 4 << 20, $"allocated {bytes:N0} bytes for a line refused at 100,000 characters");
    }

    [Fact]
    public void Line_endings_of_every_kind_still_split_rows()
    {
        string path = _folder.WriteBytes("endings.csv", "x,label\r\n1,0\r2,1\n\r\n3,0"u8.ToArray());
        var data = CsvReader.Load(path, "label");
        Assert.Equal(3, data.Count);
        Assert.Equal([0, 1, 0], data.Labels!);
    }
}
