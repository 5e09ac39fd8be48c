using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using MLNet.Regularization.Onnx.Protobuf;

namespace MLNet.Regularization.Onnx;

/// <summary>Checked access to nodes, attributes and constants.</summary>
internal sealed partial class OnnxGraphReader
{
    // ---- node helpers ---------------------------------------------------------------------------------------

    /// <summary>The node at the current position, checked to read the current tensor.</summary>
    private NodeProto Node(string opType, int inputs, int outputs)
    {
        if (_position >= _nodes.Count)
        {
            throw Fail($"the graph ends where a {opType} node was expected.");
        }

        var node = _nodes[_position];
        Check(node, opType, inputs, outputs);
        return node;
    }

    /// <summary>Checks operator, domain, input and output counts, and that the first input is the current tensor.</summary>
    private void Check(NodeProto node, string opType, int inputs, int outputs)
    {
        if (node.OpType != opType)
        {
            throw new InvalidDataException($"{_source}: node '{Show(node.Name)}' is a {Show(node.OpType)} where a {opType} was expected; OnnxImporter reads only the node patterns MLNet.Regularization's exporter writes.");
        }

        CheckDomain(node);
        if (node.Input.Count != inputs || node.Output.Count != outputs || node.Output.Any(o => o.Length == 0))
        {
            throw Fail(node, $"{opType} has {node.Input.Count} inputs and {node.Output.Count} outputs, expected {inputs} and {outputs}.");
        }

        if (node.Input[0] != _current)
        {
            throw Fail(node, $"it reads '{Show(node.Input[0])}' where the chain of layers is at '{Show(_current)}'.");
        }
    }

    private void CheckDomain(NodeProto node)
    {
        if (node.Domain is not ("" or "ai.onnx"))
        {
            throw new InvalidDataException($"{_source}: node '{Show(node.Name)}' uses operator '{Show(node.OpType)}' from domain '{Show(node.Domain)}', which OnnxImporter does not support.");
        }
    }

    /// <summary>The node after <paramref name="previous"/>, checked for operator and exact inputs (null: any).</summary>
    private NodeProto Next(NodeProto previous, string opType, int inputs, string?[] expectedInputs)
    {
        int index = IndexOf(previous) + 1;
        if (index >= _nodes.Count)
        {
            throw Fail(previous, $"it should be followed by a {opType} node.");
        }

        var node = _nodes[index];
        if (node.OpType != opType)
        {
            throw new InvalidDataException($"{_source}: node '{Show(node.Name)}' is a {Show(node.OpType)} where the pattern of node '{Show(previous.Name)}' ({Show(previous.OpType)}) continues with a {opType}; OnnxImporter reads only the node patterns MLNet.Regularization's exporter writes.");
        }

        CheckDomain(node);
        if (node.Input.Count != inputs || node.Output.Count != 1 || node.Output[0].Length == 0)
        {
            throw Fail(node, $"{opType} has {node.Input.Count} inputs and {node.Output.Count} outputs, expected {inputs} and 1.");
        }

        for (int i = 0; i < inputs; i++)
        {
            if (expectedInputs[i] is string expected && node.Input[i] != expected)
            {
                throw Fail(node, $"input {i} is '{Show(node.Input[i])}', expected '{Show(expected)}'.");
            }
        }

        if (opType is not ("Cast" or "Concat" or "Gather" or "Gemm" or "RandomNormalLike" or "RandomUniformLike" or "ReduceMean"))
        {
            Attributes(node); // none allowed; the callers check the attributes of these
        }

        return node;
    }

    private int IndexOf(NodeProto node)
    {
        for (int i = _position; i < _nodes.Count; i++)
        {
            if (ReferenceEquals(_nodes[i], node))
            {
                return i;
            }
        }

        throw new InvalidOperationException("node not found after the current position.");
    }

    private void Advance(NodeProto node)
    {
        _current = node.Output[0];
        _position++;
    }

    private void RequireCastToFloat(NodeProto cast)
    {
        var attributes = Attributes(cast, "to");
        if (!attributes.ContainsKey("to"))
        {
            throw Fail(cast, "Cast has no 'to' attribute.");
        }

        RequireInt(cast, attributes, "to", (long)OnnxElementType.Float, 0);
    }

    private Dictionary<string, AttributeProto> Attributes(NodeProto node, params string[] allowed)
    {
        var result = new Dictionary<string, AttributeProto>(StringComparer.Ordinal);
        foreach (var a in node.Attribute)
        {
            if (!allowed.Contains(a.Name))
            {
                throw new InvalidDataException($"{_source}: node '{Show(node.Name)}' ({Show(node.OpType)}) has attribute '{Show(a.Name)}', which OnnxImporter does not support.");
            }

            if (!result.TryAdd(a.Name, a))
            {
                throw Fail(node, $"attribute '{Show(a.Name)}' appears twice.");
            }
        }

        return result;
    }

    private void RequireInt(NodeProto node, Dictionary<string, AttributeProto> attributes, string name, long required, long defaultValue)
    {
        long value = defaultValue;
        if (attributes.TryGetValue(name, out var a))
        {
            if (a.Type != AttributeProto.Types.AttributeType.Int)
            {
                throw Fail(node, $"attribute '{Show(name)}' is not an integer.");
            }

            value = a.I;
        }

        if (value != required)
        {
            throw Unsupported(node, $"attribute {name} = {value} (only {required} is read)");
        }
    }

    private void RequireFloat(NodeProto node, Dictionary<string, AttributeProto> attributes, string name, float required, float defaultValue)
    {
        float value = FloatAttribute(node, attributes, name, defaultValue);
        if (value != required)
        {
            throw Unsupported(node, $"attribute {name} = {value.ToString(CultureInfo.InvariantCulture)} (only {required.ToString(CultureInfo.InvariantCulture)} is read)");
        }
    }

    private float FloatAttribute(NodeProto node, Dictionary<string, AttributeProto> attributes, string name, float defaultValue)
    {
        if (!attributes.TryGetValue(name, out var a))
        {
            return defaultValue;
        }

        if (a.Type != AttributeProto.Types.AttributeType.Float)
        {
            throw Fail(node, $"attribute '{Show(name)}' is not a float.");
        }

        return a.F;
    }

    // ---- constants --------------------------------------------------------------------------------------------

    private TensorProto Constant(NodeProto node, string name) =>
        _initializers.TryGetValue(name, out var t) ? t : throw Fail(node, $"input '{Show(name)}' is not a constant (initializer), as the exporter writes it.");

    private int[] Dims(NodeProto node, string name)
    {
        var t = Constant(node, name);
        if (t.Dims.Any(d => d <= 0 || d > int.MaxValue))
        {
            throw Fail(node, $"constant '{Show(name)}' has dims [{string.Join(", ", t.Dims)}].");
        }

        return t.Dims.Select(d => (int)d).ToArray();
    }

    private float[] Floats(NodeProto node, string name, int[] expectedDims)
    {
        var t = Constant(node, name);
        var dims = Dims(node, name);
        if (!dims.AsSpan().SequenceEqual(expectedDims))
        {
            throw Fail(node, $"constant '{Show(name)}' has dims {Tensors.Tensor.FormatShape(dims)}, expected {Tensors.Tensor.FormatShape(expectedDims)}.");
        }

        if (t.DataType != (int)OnnxElementType.Float)
        {
            throw Fail(node, $"constant '{Show(name)}' has data type {t.DataType}, expected float (1).");
        }

        if (t.ExternalData.Count > 0 || t.DataLocation == TensorProto.Types.DataLocation.External)
        {
            throw Unsupported(node, $"external data for constant '{Show(name)}'");
        }

        long count = expectedDims.Aggregate(1L, (a, b) => a * b);
        if (t.HasRawData)
        {
            var raw = t.RawData.Span;
            if (raw.Length != count * sizeof(float))
            {
                throw Fail(node, $"constant '{Show(name)}' holds {raw.Length} bytes, expected {count * sizeof(float)}.");
            }

            var values = new float[count];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(i * sizeof(float)));
            }

            return RequireFinite(node, name, values);
        }

        if (t.FloatData.Count != count)
        {
            throw Fail(node, $"constant '{Show(name)}' holds {t.FloatData.Count} values, expected {count}.");
        }

        return RequireFinite(node, name, t.FloatData.ToArray());
    }

    /// <summary>Weights, statistics and scales must be numbers: a NaN or infinity would make every prediction NaN.</summary>
    private float[] RequireFinite(NodeProto node, string name, float[] values)
    {
        int bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            throw Fail(node, $"constant '{Show(name)}' holds {values[bad].ToString(CultureInfo.InvariantCulture)} at index {bad}; every weight must be a finite number.");
        }

        return values;
    }

    private float Scalar(NodeProto node, string name) => Floats(node, name, [])[0];

    private void RequireScalar(NodeProto node, string name, float expected, string what)
    {
        float value = Scalar(node, name);
        if (value != expected)
        {
            throw Unsupported(node, $"{what} by {value.ToString(CultureInfo.InvariantCulture)} (expected {expected.ToString(CultureInfo.InvariantCulture)})");
        }
    }

    private bool BoolScalar(NodeProto node, string name)
    {
        var t = Constant(node, name);
        if (t.DataType != (int)OnnxElementType.Bool || t.Dims.Count != 0)
        {
            throw Fail(node, $"constant '{Show(name)}' is not a boolean scalar.");
        }

        if (t.HasRawData)
        {
            return t.RawData.Length == 1 ? t.RawData[0] != 0 : throw Fail(node, $"boolean '{Show(name)}' holds {t.RawData.Length} bytes.");
        }

        return t.Int32Data.Count == 1 ? t.Int32Data[0] != 0 : throw Fail(node, $"boolean '{Show(name)}' holds {t.Int32Data.Count} values.");
    }

    // ---- values and errors ------------------------------------------------------------------------------------

    /// <summary>A float near <paramref name="exact"/> that satisfies <paramref name="reproduces"/>, preferring the
    /// shortest decimal (so 0.1, not 0.100000024, comes back from the 0.9 ONNX writes for momentum 0.1).</summary>
    private static float Recover(double exact, Func<float, bool> reproduces, float? fallback = null)
    {
        for (int digits = 1; digits <= 9; digits++)
        {
            float candidate = (float)double.Parse(exact.ToString("G" + digits, CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            if (reproduces(candidate))
            {
                return candidate;
            }
        }

        return fallback ?? (float)exact;
    }

    private T? ParseMetadata<T>(Dictionary<string, string> metadata, string key, Func<string, T?> parse)
    {
        if (!metadata.TryGetValue(key, out var text))
        {
            return default;
        }

        try
        {
            return parse(text);
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            throw new InvalidDataException($"{_source}: metadata entry '{Show(key)}' is malformed: {e.Message}", e);
        }
    }
}
