using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using MLNet.Regularization.Data;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx.Protobuf;
using MLNet.Regularization.Pruning;

namespace MLNet.Regularization.Onnx;

/// <summary>
/// The pruned model in ONNX: the masks and the per-layer sparsity in the metadata, and, on request, the weights as
/// <c>sparse_initializer</c>s. Pruned weights are exact zeros in the dense initializers, so ONNX Runtime computes what
/// C# computes; the masks are stored besides, because re-imported models must keep training with the same masks: as
/// "the non-zero pattern of the weight" when that is what they are (every survivor non-zero, the usual case), else as
/// one bit per weight (<see cref="WeightMask.ToBits"/>, base64), since a surviving weight may be exactly 0 too.
/// </summary>
internal static class OnnxPruning
{
    /// <summary>The metadata entries of a pruned network: <c>sparsity</c> (per layer, readable) and
    /// <c>pruning_masks</c> (per prunable weight, in order); none for an unpruned network.</summary>
    public static IEnumerable<(string Key, string Value)> Metadata(Network exported)
    {
        if (!NetworkSparsity.IsPruned(exported))
        {
            yield break;
        }

        var layers = NetworkSparsity.PerLayer(exported);
        yield return (OnnxFormat.Keys.Sparsity, Json(w =>
        {
            long total = layers.Sum(l => l.Weights), remaining = layers.Sum(l => l.Remaining);
            w.WriteNumber("weights", total);
            w.WriteNumber("remaining", remaining);
            w.WriteNumber("fraction_remaining", total == 0 ? 1 : (double)remaining / total);
            w.WriteStartArray("layers");
            foreach (var l in layers)
            {
                w.WriteStartObject();
                w.WriteString("layer", $"l{l.LayerIndex}_{l.Layer.ToLowerInvariant()}");
                w.WriteStartArray("shape");
                foreach (int d in l.Shape)
                {
                    w.WriteNumberValue(d);
                }

                w.WriteEndArray();
                w.WriteNumber("weights", l.Weights);
                w.WriteNumber("remaining", l.Remaining);
                w.WriteNumber("sparsity", Math.Round(l.Sparsity, 6));
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }));

        yield return (OnnxFormat.Keys.PruningMasks, Json(w =>
        {
            w.WriteStartArray("masks");
            foreach (var (_, _, weight) in NetworkSparsity.PrunableWeights(exported))
            {
                if (weight.Mask is not { } mask)
                {
                    w.WriteNullValue();
                    continue;
                }

                // Usually every survivor is non-zero, and the mask is just the graph's non-zero pattern: then the
                // bits are left out (they would be a third of a sparse file).
                w.WriteStartObject();
                w.WriteNumber("length", mask.Length);
                w.WriteNumber("kept", mask.KeptCount);
                if (IsNonZeroPattern(mask, weight.Value.Span))
                {
                    w.WriteBoolean("nonzero", true);
                }
                else
                {
                    w.WriteString("bits", Convert.ToBase64String(mask.ToBits()));
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
        }));
    }

    /// <summary>Gives an imported network the masks of its <c>pruning_masks</c> entry, checking that they fit it and
    /// that every pruned weight is 0 in the graph.</summary>
    /// <exception cref="InvalidDataException">The entry is malformed or does not fit the network.</exception>
    public static void RestoreMasks(Network network, string json, string source)
    {
        var weights = NetworkSparsity.PrunableWeights(network);
        var masks = new WeightMask?[weights.Count];
        try
        {
            using var doc = JsonDocument.Parse(json);
            var list = doc.RootElement.GetProperty("masks");
            if (list.GetArrayLength() != weights.Count)
            {
                throw new InvalidDataException($"{source}: metadata '{OnnxFormat.Keys.PruningMasks}' has {list.GetArrayLength()} masks but the graph has {weights.Count} prunable weights.");
            }

            int i = 0;
            foreach (var entry in list.EnumerateArray())
            {
                if (entry.ValueKind != JsonValueKind.Null)
                {
                    int length = entry.GetProperty("length").GetInt32();
                    var (layer, l, w) = weights[i];
                    if (length != w.Value.Length)
                    {
                        throw new InvalidDataException($"{source}: pruning mask {i} covers {length} weights but layer {layer} ({l.Name}) has {w.Value.Length}.");
                    }

                    var values = w.Value.Span;
                    var mask = entry.TryGetProperty("bits", out var bits)
                        ? WeightMask.FromBits(Convert.FromBase64String(bits.GetString() ?? ""), length)
                        : entry.TryGetProperty("nonzero", out var nonZero) && nonZero.GetBoolean() ? NonZeroPattern(values) : throw new InvalidDataException($"{source}: pruning mask {i} has neither bits nor \"nonzero\": true.");
                    if (mask.KeptCount != entry.GetProperty("kept").GetInt32())
                    {
                        throw new InvalidDataException($"{source}: pruning mask {i} keeps {mask.KeptCount} weights of layer {layer} ({l.Name}) but says it keeps {entry.GetProperty("kept").GetInt32()}.");
                    }

                    for (int j = 0; j < values.Length; j++)
                    {
                        if (values[j] != 0f && !mask.IsKept(j))
                        {
                            throw new InvalidDataException($"{source}: pruning mask {i} prunes weight {j} of layer {layer} ({l.Name}), but the graph holds {values[j].ToString(CultureInfo.InvariantCulture)} there, not 0.");
                        }
                    }

                    masks[i] = mask;
                }

                i++;
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"{source}: metadata '{OnnxFormat.Keys.PruningMasks}' is not in the expected form: {e.Message}", e);
        }

        NetworkSparsity.SetMasks(network, masks);
    }

    /// <summary>True when the mask keeps exactly the non-zero values.</summary>
    private static bool IsNonZeroPattern(WeightMask mask, ReadOnlySpan<float> values)
    {
        for (int j = 0; j < values.Length; j++)
        {
            if (mask.IsKept(j) != (values[j] != 0f))
            {
                return false;
            }
        }

        return true;
    }

    private static WeightMask NonZeroPattern(ReadOnlySpan<float> values)
    {
        var flags = new bool[values.Length];
        for (int j = 0; j < values.Length; j++)
        {
            flags[j] = values[j] != 0f;
        }

        return WeightMask.FromFlags(flags);
    }

    /// <summary>Moves every float initializer of rank 2 or more (weights and kernels) whose non-zero values take less
    /// room as COO (4 bytes of value and 8 of int64 index each) than the dense tensor (4 bytes per value, so at most a
    /// third non-zero) into sparse form: by default a <c>Constant</c> node with a <c>sparse_value</c> attribute at the
    /// head of the graph (its output is a dense tensor, which is what Gemm and Conv take, so the ONNX checker's strict
    /// type inference accepts it), or, with <paramref name="asSparseInitializers"/>, a <c>graph.sparse_initializer</c>
    /// (which ONNX types as <c>sparse_tensor(float)</c>: ONNX Runtime densifies and runs it, the checker refuses it as
    /// Gemm's input).</summary>
    public static void SparsifyWeights(GraphProto graph, bool asSparseInitializers = false)
    {
        int constants = 0;
        for (int i = 0; i < graph.Initializer.Count; i++)
        {
            var t = graph.Initializer[i];
            if (t.DataType != (int)OnnxElementType.Float || t.Dims.Count < 2 || !t.HasRawData)
            {
                continue;
            }

            var raw = t.RawData.Span;
            var values = new float[raw.Length / sizeof(float)];
            int nonZero = 0;
            for (int j = 0; j < values.Length; j++)
            {
                values[j] = BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(j * sizeof(float)));
                nonZero += values[j] != 0f ? 1 : 0;
            }

            if ((long)nonZero * (sizeof(float) + sizeof(long)) >= (long)values.Length * sizeof(float))
            {
                continue;
            }

            var kept = new byte[nonZero * sizeof(float)];
            var positions = new byte[nonZero * sizeof(long)];
            for (int j = 0, k = 0; j < values.Length; j++)
            {
                if (values[j] != 0f)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(kept.AsSpan(k * sizeof(float)), values[j]);
                    BinaryPrimitives.WriteInt64LittleEndian(positions.AsSpan(k * sizeof(long)), j);
                    k++;
                }
            }

            var sparse = new SparseTensorProto
            {
                Values = new TensorProto { Name = t.Name, DataType = t.DataType, RawData = ByteString.CopyFrom(kept) },
                Indices = new TensorProto { Name = t.Name + "_indices", DataType = (int)OnnxElementType.Int64, RawData = ByteString.CopyFrom(positions) },
            };
            sparse.Values.Dims.Add(nonZero);
            sparse.Indices.Dims.Add(nonZero);
            sparse.Dims.AddRange(t.Dims);
            graph.Initializer.RemoveAt(i--);
            if (asSparseInitializers)
            {
                graph.SparseInitializer.Add(sparse);
                continue;
            }

            var constant = new NodeProto { Name = t.Name + "_constant", OpType = "Constant", DocString = "pruned weight, stored sparse (COO)" };
            constant.Output.Add(t.Name);
            constant.Attribute.Add(new AttributeProto { Name = "sparse_value", Type = AttributeProto.Types.AttributeType.SparseTensor, SparseTensor = sparse });
            graph.Node.Insert(constants++, constant);
        }
    }

    /// <summary>Splits the <c>Constant</c> nodes that <see cref="SparsifyWeights"/> writes off the graph's nodes: their
    /// outputs become (dense) initializers, the other nodes are returned in order.</summary>
    /// <exception cref="InvalidDataException">A Constant node is not in that form.</exception>
    public static List<NodeProto> TakeSparseConstants(IEnumerable<NodeProto> nodes, List<TensorProto> initializers, string source, ReaderLimits limits)
    {
        var rest = new List<NodeProto>();
        foreach (var node in nodes)
        {
            if (node.OpType != "Constant")
            {
                rest.Add(node);
                continue;
            }

            if (node.Input.Count != 0 || node.Output.Count != 1 || node.Attribute.Count != 1 || node.Attribute[0].Name != "sparse_value" || node.Attribute[0].SparseTensor is null)
            {
                throw new InvalidDataException($"{source}: node '{ReaderLimits.Shorten(node.Name)}' (Constant) is not a sparse weight (one sparse_value attribute, one output), the only Constant the exporter writes.");
            }

            var dense = Densify(node.Attribute[0].SparseTensor, source, limits);
            dense.Name = node.Output[0];
            initializers.Add(dense);
        }

        return rest;
    }

    /// <summary>The dense form of a sparse initializer (float values, int64 linear indices), as the importer reads it.
    /// Densifying is the one place where the importer allocates more than it read (a 1%-dense weight grows a
    /// hundredfold), so the dense size is checked against <see cref="ReaderLimits.MaxTensorElements"/> first.</summary>
    /// <exception cref="InvalidDataException">The tensor is not in the form <see cref="SparsifyWeights"/> writes, or is
    /// larger than the limit.</exception>
    public static TensorProto Densify(SparseTensorProto sparse, string source, ReaderLimits limits)
    {
        var values = sparse.Values ?? throw new InvalidDataException($"{source}: a sparse initializer has no values.");
        var indices = sparse.Indices ?? throw new InvalidDataException($"{source}: sparse initializer '{ReaderLimits.Shorten(values.Name)}' has no indices.");
        string name = ReaderLimits.Shorten(values.Name);
        long count = 1;
        foreach (long d in sparse.Dims)
        {
            // Overflow-safe: a non-positive dimension, or a product past the limit, ends the multiplication.
            count = d <= 0 ? -1 : count > 0 && count <= limits.MaxTensorElements / d ? count * d : count > 0 ? limits.MaxTensorElements + 1 : count;
        }

        if (sparse.Dims.Count == 0 || count <= 0 || count > Array.MaxLength / sizeof(float))
        {
            throw new InvalidDataException($"{source}: sparse initializer '{name}' has dims [{ReaderLimits.Shorten(string.Join(", ", sparse.Dims))}].");
        }

        ReaderLimits.Check(count, limits.MaxTensorElements, source, $"sparse initializer '{name}' with dims [{ReaderLimits.Shorten(string.Join(", ", sparse.Dims))}]", nameof(ReaderLimits.MaxTensorElements));

        if (values.DataType != (int)OnnxElementType.Float || !values.HasRawData || indices.DataType != (int)OnnxElementType.Int64 || !indices.HasRawData
            || values.Dims.Count != 1 || indices.Dims.Count != 1 || values.Dims[0] != indices.Dims[0]
            || values.RawData.Length != values.Dims[0] * sizeof(float) || indices.RawData.Length != indices.Dims[0] * sizeof(long))
        {
            throw new InvalidDataException($"{source}: sparse initializer '{name}' is not float values with int64 linear indices [NNZ] in raw data, the form the exporter writes.");
        }

        var dense = new byte[count * sizeof(float)];
        var v = values.RawData.Span;
        var ix = indices.RawData.Span;
        long previous = -1;
        for (int k = 0; k < values.Dims[0]; k++)
        {
            long at = BinaryPrimitives.ReadInt64LittleEndian(ix.Slice(k * sizeof(long)));
            if (at <= previous || at >= count)
            {
                throw new InvalidDataException($"{source}: sparse initializer '{name}' has index {at} at position {k} (indices must ascend within 0..{count - 1}).");
            }

            v.Slice(k * sizeof(float), sizeof(float)).CopyTo(dense.AsSpan((int)at * sizeof(float)));
            previous = at;
        }

        var tensor = new TensorProto { Name = name, DataType = (int)OnnxElementType.Float, RawData = ByteString.CopyFrom(dense) };
        tensor.Dims.AddRange(sparse.Dims);
        return tensor;
    }

    private static string Json(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
