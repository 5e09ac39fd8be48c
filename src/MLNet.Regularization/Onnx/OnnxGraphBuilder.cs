using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using MLNet.Regularization.Onnx.Protobuf;

namespace MLNet.Regularization.Onnx;

/// <summary>Element types of the tensors the exporter declares (values of ONNX's TensorProto.DataType).</summary>
internal enum OnnxElementType
{
    /// <summary>32-bit float.</summary>
    Float = 1,

    /// <summary>64-bit signed integer (ArgMax's output).</summary>
    Int64 = 7,

    /// <summary>Boolean (Dropout's training_mode and mask).</summary>
    Bool = 9,
}

/// <summary>A node attribute, described without protobuf types so that layers can state their ONNX form.</summary>
internal readonly struct OnnxAttribute
{
    private OnnxAttribute(string name, AttributeProto.Types.AttributeType type, long i, float f, long[]? ints = null, string? text = null)
    {
        Name = name;
        Type = type;
        IntValue = i;
        FloatValue = f;
        IntValues = ints;
        StringValue = text;
    }

    /// <summary>The attribute's name, such as <c>axis</c>.</summary>
    public string Name { get; }

    /// <summary>Which value it holds.</summary>
    internal AttributeProto.Types.AttributeType Type { get; }

    /// <summary>The value of an INT attribute.</summary>
    public long IntValue { get; }

    /// <summary>The value of a FLOAT attribute.</summary>
    public float FloatValue { get; }

    /// <summary>The values of an INTS attribute.</summary>
    public IReadOnlyList<long>? IntValues { get; }

    /// <summary>The value of a STRING attribute.</summary>
    public string? StringValue { get; }

    /// <summary>A string attribute, such as a recurrent node's <c>direction</c>.</summary>
    public static OnnxAttribute String(string name, string value) => new(name, AttributeProto.Types.AttributeType.String, 0, 0f, null, value);

    /// <summary>An integer attribute.</summary>
    public static OnnxAttribute Int(string name, long value) => new(name, AttributeProto.Types.AttributeType.Int, value, 0f);

    /// <summary>A float attribute.</summary>
    public static OnnxAttribute Float(string name, float value) => new(name, AttributeProto.Types.AttributeType.Float, 0, value);

    /// <summary>An integer-list attribute, such as Conv's <c>pads</c>.</summary>
    public static OnnxAttribute Ints(string name, params long[] values) => new(name, AttributeProto.Types.AttributeType.Ints, 0, 0f, values);

    internal AttributeProto ToProto()
    {
        switch (Type)
        {
            case AttributeProto.Types.AttributeType.Int:
                return new AttributeProto { Name = Name, Type = Type, I = IntValue };
            case AttributeProto.Types.AttributeType.Ints:
                var a = new AttributeProto { Name = Name, Type = Type };
                a.Ints.AddRange(IntValues ?? []);
                return a;
            case AttributeProto.Types.AttributeType.String:
                return new AttributeProto { Name = Name, Type = Type, S = ByteString.CopyFromUtf8(StringValue ?? "") };
            default:
                return new AttributeProto { Name = Name, Type = Type, F = FloatValue };
        }
    }
}

/// <summary>
/// The small API through which layers describe their ONNX form: constant tensors (initializers) and nodes,
/// chained through <see cref="Current"/>, the name of the tensor the next layer consumes. Generated names are C
/// identifiers, as the ONNX IR asks, made readable and unique from the layer's scope (node <c>l3_dense_gemm</c>,
/// its output <c>l3_dense_gemm_out</c>, initializer <c>l3_dense_weight</c>), and every node of a layer carries
/// the layer's description as its doc string, so the graph reads well in Netron. Only the Onnx folder sees the
/// protobuf messages behind it.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly GraphProto _graph;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly HashSet<string> _nodeNames = new(StringComparer.Ordinal);
    private string _scope = "";
    private string _doc = "";
    private string? _current;

    /// <summary>Starts an empty graph.</summary>
    /// <param name="graphName">The graph's name.</param>
    /// <param name="batchDimension">The symbolic name of the batch dimension (dim_param).</param>
    public OnnxGraphBuilder(string graphName, string batchDimension)
    {
        _graph = new GraphProto { Name = graphName };
        BatchDimension = batchDimension;
    }

    /// <summary>The symbolic name of the dynamic batch dimension.</summary>
    public string BatchDimension { get; }

    /// <summary>The tensor the next layer reads; each layer sets it to its output.</summary>
    public string Current
    {
        get => _current ?? throw new InvalidOperationException("the graph has no input yet.");
        set => _current = value;
    }

    /// <summary>The graph built so far (the exporter wraps it into a model).</summary>
    internal GraphProto Graph => _graph;

    /// <summary>Names what follows: nodes and initializers are named after <paramref name="scope"/>, and nodes
    /// carry <paramref name="description"/> as their doc string.</summary>
    public void BeginScope(string scope, string description)
    {
        _scope = scope;
        _doc = description;
    }

    /// <summary>The current scope (what <see cref="BeginScope"/> set last).</summary>
    public string Scope => _scope;

    /// <summary>The current scope's description.</summary>
    public string Description => _doc;

    /// <summary>Declares a graph input of shape [batch, ..<paramref name="sampleShape"/>] and makes it current.</summary>
    public string AddInput(string name, OnnxElementType type, ReadOnlySpan<int> sampleShape)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, type, sampleShape));
        Current = name;
        return name;
    }

    /// <summary>Declares a graph output of shape [batch, ..<paramref name="sampleShape"/>].</summary>
    public void AddOutput(string name, OnnxElementType type, ReadOnlySpan<int> sampleShape)
    {
        if (!_names.Contains(name))
        {
            throw new InvalidOperationException($"graph output '{name}' is not produced by any node.");
        }

        _graph.Output.Add(ValueInfo(name, type, sampleShape));
    }

    /// <summary>Adds a float constant of the given shape; returns its (scoped, unique) name.</summary>
    public string AddInitializer(string name, ReadOnlySpan<float> values, ReadOnlySpan<int> dims)
    {
        long count = 1;
        foreach (int d in dims)
        {
            count *= d;
        }

        if (count != values.Length)
        {
            throw new ArgumentException($"initializer '{name}': {values.Length} values for dims [{string.Join(", ", dims.ToArray())}].", nameof(values));
        }

        var tensor = NewTensor(name, OnnxElementType.Float, dims);
        if (BitConverter.IsLittleEndian)
        {
            tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values));
        }
        else
        {
            var bytes = new byte[values.Length * sizeof(float)];
            for (int i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
            }

            tensor.RawData = ByteString.CopyFrom(bytes);
        }

        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>Adds a one-dimensional int64 constant, such as Squeeze's <c>axes</c>.</summary>
    public string AddInt64s(string name, ReadOnlySpan<long> values)
    {
        var tensor = NewTensor(name, OnnxElementType.Int64, [values.Length]);
        var bytes = new byte[values.Length * sizeof(long)];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * sizeof(long)), values[i]);
        }

        tensor.RawData = ByteString.CopyFrom(bytes);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>Adds a float scalar (rank 0) constant.</summary>
    public string AddScalar(string name, float value) => AddInitializer(name, [value], []);

    /// <summary>Adds a boolean scalar (rank 0) constant, such as Dropout's <c>training_mode</c>.</summary>
    public string AddBoolScalar(string name, bool value)
    {
        var tensor = NewTensor(name, OnnxElementType.Bool, []);
        tensor.RawData = ByteString.CopyFrom([value ? (byte)1 : (byte)0]);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>Adds a node with one output and returns the output's name (scoped and unique unless
    /// <paramref name="output"/> names it, as graph outputs are named).</summary>
    public string AddNode(string opType, IReadOnlyList<string> inputs, OnnxAttribute[]? attributes = null, string? output = null) =>
        AddNode(opType, inputs, 1, attributes, output is null ? null : [output])[0];

    /// <summary>Adds a node with <paramref name="outputCount"/> outputs and returns their names.</summary>
    public string[] AddNode(string opType, IReadOnlyList<string> inputs, int outputCount, OnnxAttribute[]? attributes = null, string[]? outputs = null)
    {
        foreach (string input in inputs)
        {
            if (input.Length > 0 && !_names.Contains(input))
            {
                throw new InvalidOperationException($"{opType} node in '{_scope}' reads '{input}', which nothing defines.");
            }
        }

        string nodeName = Unique(Join(_scope, opType.ToLowerInvariant()));
        outputs ??= Enumerable.Range(0, outputCount).Select(i => outputCount == 1 ? $"{nodeName}_out" : $"{nodeName}_out{i}").ToArray();
        foreach (string o in outputs)
        {
            Claim(o);
        }

        var node = new NodeProto { Name = nodeName, OpType = opType, DocString = _doc };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        foreach (var a in attributes ?? [])
        {
            node.Attribute.Add(a.ToProto());
        }

        _graph.Node.Add(node);
        return outputs;
    }

    /// <summary>Adds a node that reads <see cref="Current"/> (then <paramref name="moreInputs"/>) and makes its
    /// output current.</summary>
    public string Then(string opType, IReadOnlyList<string>? moreInputs = null, params OnnxAttribute[] attributes)
    {
        Current = AddNode(opType, [Current, .. moreInputs ?? []], attributes);
        return Current;
    }

    private TensorProto NewTensor(string name, OnnxElementType type, ReadOnlySpan<int> dims)
    {
        string full = Join(_scope, name);
        Claim(full);
        var tensor = new TensorProto { Name = full, DataType = (int)type };
        foreach (int d in dims)
        {
            tensor.Dims.Add(d);
        }

        return tensor;
    }

    private ValueInfoProto ValueInfo(string name, OnnxElementType type, ReadOnlySpan<int> sampleShape)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = BatchDimension });
        foreach (int d in sampleShape)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    private void Claim(string name)
    {
        if (string.IsNullOrEmpty(name) || !_names.Add(name))
        {
            throw new InvalidOperationException($"the ONNX graph already has a tensor named '{name}' (or the name is empty).");
        }
    }

    private static string Join(string scope, string name) => scope.Length == 0 ? name : $"{scope}_{name}";

    private string Unique(string baseName)
    {
        string name = baseName;
        for (int i = 2; _nodeNames.Contains(name); i++)
        {
            name = $"{baseName}_{i}";
        }

        _nodeNames.Add(name);
        return name;
    }
}
