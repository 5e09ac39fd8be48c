using System.Globalization;
using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using MLNet.Regularization.Data;

namespace MLNet.Regularization.MLNet;

/// <summary>
/// Finds the regularized networks in a model saved by <c>mlContext.Model.Save</c> and puts a
/// <see cref="RegularizedNetworkTransformer"/> back in place of each one's scoring chain.
/// </summary>
/// <remarks>
/// The saved model is a zip whose folders mirror the transformer chain (<c>TransformerChain/Transform_002/...</c>);
/// OnnxTransformer keeps its model in an <c>OnnxModel</c> entry of its folder (a 32-bit length, then the bytes). A
/// scoring graph written by this package is recognized by its metadata (<see cref="OnnxScoringGraph.ScoringKey"/>),
/// its folder path gives the position of its chain in the loaded transformer, and the graph gives back the engine's
/// model.
/// </remarks>
internal static class SavedModel
{
    private const string Root = "TransformerChain";
    private const string OnnxEntry = "OnnxModel";

    public static ITransformer Restore(ITransformer loaded, Stream zip, DataViewSchema inputSchema)
    {
        var scorers = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Read, leaveOpen: true))
        {
            foreach (var entry in archive.Entries)
            {
                var parts = entry.FullName.Split('/');
                if (parts.Length < 3 || parts[0] != Root || parts[^1] != OnnxEntry)
                {
                    continue;
                }

                byte[] bytes = ReadOnnxEntry(entry);
                if (OnnxScoringGraph.IsScoringGraph(bytes))
                {
                    // The OnnxTransformer is the first element of the scoring chain: the chain is its parent folder.
                    scorers[string.Join('/', parts[1..^2])] = bytes;
                }
            }
        }

        return scorers.Count == 0 ? loaded : Replace(loaded, "", inputSchema, scorers);
    }

    private static ITransformer Replace(ITransformer transformer, string path, DataViewSchema input, Dictionary<string, byte[]> scorers)
    {
        if (transformer is not TransformerChain<ITransformer> chain)
        {
            return transformer;
        }

        if (scorers.TryGetValue(path, out var bytes) && chain.FirstOrDefault() is OnnxTransformer)
        {
            return Wrap(chain, bytes, input);
        }

        var elements = chain.ToList();
        var scopes = elements.Select(t => Scope(chain, t)).ToList();
        bool changed = false;
        var schema = input;
        for (int i = 0; i < elements.Count; i++)
        {
            string child = (path.Length == 0 ? "" : path + "/") + "Transform_" + i.ToString("000", CultureInfo.InvariantCulture);
            var replaced = Replace(elements[i], child, schema, scorers);
            changed |= !ReferenceEquals(replaced, elements[i]);
            elements[i] = replaced;
            schema = replaced.GetOutputSchema(schema);
        }

        return changed ? new TransformerChain<ITransformer>(elements, scopes) : chain;
    }

    private static RegularizedNetworkTransformer Wrap(TransformerChain<ITransformer> scorer, byte[] scoringGraph, DataViewSchema input)
    {
        var model = OnnxScoringGraph.Restore(scoringGraph);
        string featureColumn = OnnxScoringGraph.InputName(scoringGraph);
        DataViewSchema.Annotations? labelKeyValues = null;
        if (model.Task == TaskKind.Multiclass && OnnxScoringGraph.LabelHadKeyValues(scoringGraph))
        {
            labelKeyValues = scorer.GetOutputSchema(input)["PredictedLabel"].Annotations;
        }

        return new RegularizedNetworkTransformer(scorer, model, featureColumn, new ScoreAnnotations(model.Task, labelKeyValues));
    }

    /// <summary>The scopes (training, testing, scoring) in which <paramref name="chain"/> applies <paramref name="element"/>.</summary>
    private static TransformerScope Scope(TransformerChain<ITransformer> chain, ITransformer element)
    {
        var scope = TransformerScope.None;
        foreach (var s in new[] { TransformerScope.Training, TransformerScope.Testing, TransformerScope.Scoring })
        {
            if (chain.GetModelFor(s).Any(t => ReferenceEquals(t, element)))
            {
                scope |= s;
            }
        }

        return scope;
    }

    private static byte[] ReadOnnxEntry(ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        using var reader = new BinaryReader(stream);
        int length = reader.ReadInt32();
        if (length < 0 || length > entry.Length - 4)
        {
            throw new InvalidDataException($"the saved model's entry {entry.FullName} is corrupt: it announces {length} bytes of ONNX model in {entry.Length - 4}.");
        }

        return reader.ReadBytes(length);
    }
}
