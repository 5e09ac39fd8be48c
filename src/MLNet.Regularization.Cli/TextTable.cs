using System.Text;

namespace MLNet.Regularization.Cli;

/// <summary>A plain-text table with aligned columns, for output that is redirected or asked to be quiet.</summary>
internal sealed class TextTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    /// <summary>Columns from this index on are right-aligned (numbers).</summary>
    public int FirstNumericColumn { get; init; } = 1;

    public void Add(params string[] cells) => _rows.Add(cells);

    public override string ToString()
    {
        var all = new List<string[]> { headers };
        all.AddRange(_rows);
        var widths = Enumerable.Range(0, headers.Length).Select(c => all.Max(r => c < r.Length ? r[c].Length : 0)).ToArray();
        var sb = new StringBuilder();
        for (int i = 0; i < all.Count; i++)
        {
            var row = all[i];
            var cells = Enumerable.Range(0, headers.Length).Select(c =>
            {
                string cell = c < row.Length ? row[c] : "";
                return c >= FirstNumericColumn ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]);
            });
            sb.Append(string.Join("  ", cells).TrimEnd()).Append('\n');
            if (i == 0)
            {
                sb.Append(string.Join("  ", widths.Select(w => new string('-', w)))).Append('\n');
            }
        }

        return sb.ToString();
    }
}
