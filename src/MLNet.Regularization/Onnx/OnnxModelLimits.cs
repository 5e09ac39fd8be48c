using MLNet.Regularization.Data;
using MLNet.Regularization.Onnx.Protobuf;

namespace MLNet.Regularization.Onnx;

/// <summary>
/// Checks a parsed model against <see cref="ReaderLimits"/> before the importer looks at it: node count, every
/// string's length and every constant's element count (an overflow-safe product of its dims). Parsing itself
/// allocates only in proportion to the bytes (the protobuf reader checks every length against what is left), so
/// these checks bound what the import builds from the model.
/// </summary>
internal static class OnnxModelLimits
{
    public static void Check(ModelProto model, string source, ReaderLimits limits)
    {
        var graph = model.Graph;
        int nodes = graph.Node.Count;
        ReaderLimits.Check(nodes, limits.MaxNodeCount, source, $"a graph of {nodes:N0} nodes", nameof(ReaderLimits.MaxNodeCount));
        ReaderLimits.Check(graph.Initializer.Count, limits.MaxNodeCount, source, $"{graph.Initializer.Count:N0} initializers", nameof(ReaderLimits.MaxNodeCount));
        ReaderLimits.Check(model.MetadataProps.Count, limits.MaxNodeCount, source, $"{model.MetadataProps.Count:N0} metadata entries", nameof(ReaderLimits.MaxNodeCount));

        var strings = new StringChecker(source, limits.MaxStringLength);
        strings.Check(model.ProducerName, "the producer name");
        foreach (var entry in model.MetadataProps)
        {
            strings.Check(entry.Key, "a metadata key");
            strings.Check(entry.Value, $"metadata entry '{ReaderLimits.Shorten(entry.Key)}'");
        }

        for (int i = 0; i < nodes; i++)
        {
            var node = graph.Node[i];
            string what = $"node {i}";
            strings.Check(node.Name, $"the name of {what}");
            strings.Check(node.OpType, $"the operator of {what}");
            strings.Check(node.Domain, $"the domain of {what}");
            strings.CheckAll(node.Input, $"an input name of {what}");
            strings.CheckAll(node.Output, $"an output name of {what}");
            foreach (var attribute in node.Attribute)
            {
                strings.Check(attribute.Name, $"an attribute name of {what}");
                ReaderLimits.Check(attribute.Ints.Count + (long)attribute.Floats.Count, limits.MaxTensorElements, source, $"attribute '{ReaderLimits.Shorten(attribute.Name)}' of {what}", nameof(ReaderLimits.MaxTensorElements));
            }
        }

        ReaderLimits.Check(graph.SparseInitializer.Count, limits.MaxNodeCount, source, $"{graph.SparseInitializer.Count:N0} sparse initializers", nameof(ReaderLimits.MaxNodeCount));
        foreach (var value in graph.Input.Concat(graph.Output))
        {
            strings.Check(value.Name, "a graph input or output name");
        }

        foreach (var tensor in graph.Initializer)
        {
            strings.Check(tensor.Name, "an initializer name");
            string name = $"initializer '{ReaderLimits.Shorten(tensor.Name)}'";
            long elements = 1;
            foreach (long d in tensor.Dims)
            {
                if (d < 0)
                {
                    throw new InvalidDataException($"{source}: {name} has a negative dimension {d}.");
                }

                // Overflow-safe: stop multiplying as soon as the product passes the limit.
                elements = d == 0 || elements <= limits.MaxTensorElements / Math.Max(d, 1) ? elements * d : limits.MaxTensorElements + 1;
            }

            ReaderLimits.Check(elements, limits.MaxTensorElements, source, $"{name} with dims [{ReaderLimits.Shorten(string.Join(", ", tensor.Dims))}]", nameof(ReaderLimits.MaxTensorElements));
        }
    }

    private readonly struct StringChecker(string source, int max)
    {
        public void Check(string? text, string what)
        {
            if (text is not null && text.Length > max)
            {
                throw ReaderLimits.Exceeded(source, $"{what} ({text.Length:N0} characters, starting '{ReaderLimits.Shorten(text, 40)}')", nameof(ReaderLimits.MaxStringLength), max);
            }
        }

        public void CheckAll(IEnumerable<string> texts, string what)
        {
            foreach (string text in texts)
            {
                Check(text, what);
            }
        }
    }
}
