namespace MLNet.Regularization.Cli;

/// <summary>"Did you mean ...?": the known name closest to a mistyped one.</summary>
internal static class Suggestions
{
    /// <summary>The candidate equal to <paramref name="name"/> but for case, or else the one within a few edits
    /// (Levenshtein distance at most 2, or a third of the name's length for long names), or null.</summary>
    public static string? Nearest(string name, IEnumerable<string> candidates)
    {
        var list = candidates.ToList();
        var sameButCase = list.FirstOrDefault(c => string.Equals(c, name, StringComparison.OrdinalIgnoreCase));
        if (sameButCase is not null)
        {
            return sameButCase;
        }

        int limit = Math.Max(2, name.Length / 3);
        return list
            .Select(c => (Candidate: c, Distance: Distance(name.ToLowerInvariant(), c.ToLowerInvariant())))
            .Where(p => p.Distance <= limit)
            .OrderBy(p => p.Distance)
            .Select(p => p.Candidate)
            .FirstOrDefault();
    }

    /// <summary>Levenshtein distance (insertions, deletions, substitutions; a swap of neighbours counts as one).</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
