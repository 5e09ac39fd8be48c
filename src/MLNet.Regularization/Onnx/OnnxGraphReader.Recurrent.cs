using System.Buffers.Binary;
using MLNet.Regularization.Layers;
using MLNet.Regularization.Onnx.Protobuf;

namespace MLNet.Regularization.Onnx;

/// <summary>The node patterns of the sequence layers: <see cref="LSTM"/> / <see cref="GRU"/> between transposes, and
/// <see cref="Embedding"/> as Cast + Gather.</summary>
internal sealed partial class OnnxGraphReader
{
    // LSTM / GRU: Transpose(x, [1, 0, 2]) → [weight drop: Dropout(R) → Cast → Mul(·, 1/(1 − p)) → Mul(R, ·)] →
    // LSTM|GRU(x, W, R, B) → Squeeze(Y, [1]) → Transpose([1, 0, 2])  (every step)  or  Squeeze(Y_h, [0])  (last step).
    private void ReadRecurrent(NodeProto transpose)
    {
        Check(transpose, "Transpose", 1, 1);
        RequirePerm(transpose);
        if (_shape.Length != 2)
        {
            throw Fail(transpose, $"a recurrent layer reads sequences [T, D], but the tensor has per-example shape {Tensors.Tensor.FormatShape(_shape)}.");
        }

        int steps = _shape[0], inputs = _shape[1];
        Advance(transpose);
        float weightDrop = 0f;
        string? maskedR = null;
        float[]? droppedR = null;
        if (_position < _end && _nodes[_position].OpType == "Dropout")
        {
            var dropout = _nodes[_position];
            weightDrop = DropoutInputs(dropout);
            if (dropout.Output.Count != 2 || dropout.Output[1].Length == 0)
            {
                throw Fail(dropout, "a weight-drop Dropout must output its mask.");
            }

            var cast = Next(dropout, "Cast", 1, [dropout.Output[1]]);
            RequireCastToFloat(cast);
            var scale = Next(cast, "Mul", 2, [cast.Output[0], null]);
            RequireScalar(scale, scale.Input[1], 1f / (1f - weightDrop), "weight drop's mask scaling");
            var mul = Next(scale, "Mul", 2, [dropout.Input[0], scale.Output[0]]);
            droppedR = Floats(dropout, dropout.Input[0], Dims(dropout, dropout.Input[0]));
            maskedR = mul.Output[0];
            _position += 4;
        }

        var cell = _position < _end ? _nodes[_position] : throw Fail(transpose, "the transposed sequence is not read by an LSTM or GRU node.");
        if (cell.OpType is not ("LSTM" or "GRU"))
        {
            throw Fail(cell, $"a {cell.OpType} follows the sequence transpose; the exporter writes an LSTM or GRU there.");
        }

        Check(cell, cell.OpType, 4, 2);
        bool lstm = cell.OpType == "LSTM";
        int gates = lstm ? 4 : 3;
        var attributes = lstm ? Attributes(cell, "hidden_size", "layout", "direction") : Attributes(cell, "hidden_size", "layout", "direction", "linear_before_reset");
        RequireInt(cell, attributes, "layout", 0, 0);
        if (!lstm)
        {
            RequireInt(cell, attributes, "linear_before_reset", 1, 0);
        }

        string direction = "forward";
        if (attributes.TryGetValue("direction", out var directionAttribute))
        {
            direction = directionAttribute.Type == AttributeProto.Types.AttributeType.String ? directionAttribute.S.ToStringUtf8() : throw Fail(cell, "attribute 'direction' is not a string.");
            if (direction is not ("forward" or "bidirectional"))
            {
                throw Unsupported(cell, $"direction = {direction} (the exporter writes forward or bidirectional nodes)");
            }
        }

        int count = direction == "bidirectional" ? 2 : 1;
        if (count == 2 && maskedR is not null)
        {
            throw Fail(cell, "a bidirectional node has no weight-dropped R (the exporter writes none).");
        }

        if (!attributes.TryGetValue("hidden_size", out var hiddenSize) || hiddenSize.Type != AttributeProto.Types.AttributeType.Int || hiddenSize.I < 1 || hiddenSize.I > 1 << 20)
        {
            throw Fail(cell, "it needs a positive integer hidden_size.");
        }

        int units = (int)hiddenSize.I, rows = gates * units;
        float[] w = Floats(cell, cell.Input[1], [count, rows, inputs]);
        float[] r;
        if (maskedR is not null)
        {
            if (cell.Input[2] != maskedR || droppedR!.Length != rows * units)
            {
                throw Fail(cell, "its R input is not the weight-dropped recurrent matrix the nodes before it form.");
            }

            r = droppedR;
        }
        else
        {
            r = Floats(cell, cell.Input[2], [count, rows, units]);
        }

        float[] b = Floats(cell, cell.Input[3], [count, 2 * rows]);
        Advance(cell);
        bool sequences = count == 2 ? ReadBidirectionalOutput(cell, units) : ReadRecurrentOutput(cell);
        RecurrentRegularizer[] regularizers = weightDrop > 0f ? [new WeightDrop(weightDrop)] : [];
        RecurrentLayer layer = lstm ? new LSTM(units, sequences, regularizers) : new GRU(units, sequences, regularizers);
        var values = new List<float[]>();
        for (int d = 0; d < count; d++)
        {
            var bias = b.AsSpan(d * 2 * rows, 2 * rows);
            if (lstm && bias[rows..].ContainsAnyExcept(0f))
            {
                throw Unsupported(cell, "a non-zero recurrent bias Rb in B (the exporter folds the LSTM's bias into Wb and writes Rb = 0)");
            }

            values.Add(w[(d * rows * inputs)..((d + 1) * rows * inputs)]);
            values.Add(r[(d * rows * units)..((d + 1) * rows * units)]);
            values.Add(bias[..rows].ToArray());
            if (!lstm)
            {
                values.Add(bias[rows..].ToArray());
            }
        }

        _layers.Add((count == 2 ? new Bidirectional(layer) : layer, values.ToArray()));
        _shape = sequences ? [steps, count * units] : [count * units];
    }

    /// <summary>Reads the Transpose and Reshape after a bidirectional node; true for every step's output.</summary>
    private bool ReadBidirectionalOutput(NodeProto cell, int units)
    {
        var transpose = _position < _end ? _nodes[_position] : throw Fail(cell, "the bidirectional node's output is not transposed.");
        bool sequences = transpose.Input.Count == 1 && transpose.Input[0] == cell.Output[0];
        _current = transpose.Input.Count == 1 ? transpose.Input[0] : _current;
        if (!sequences && _current != cell.Output[1])
        {
            throw Fail(transpose, $"it reads '{_current}', not an output of node '{cell.Name}'.");
        }

        Check(transpose, "Transpose", 1, 1);
        var attributes = Attributes(transpose, "perm");
        long[] perm = sequences ? [2, 0, 1, 3] : [1, 0, 2];
        if (!attributes.TryGetValue("perm", out var p) || p.Type != AttributeProto.Types.AttributeType.Ints || !p.Ints.SequenceEqual(perm))
        {
            throw Unsupported(transpose, $"a permutation other than [{string.Join(", ", perm)}]");
        }

        Advance(transpose);
        var reshape = _position < _end ? _nodes[_position] : throw Fail(transpose, "the transposed directions are not reshaped.");
        Check(reshape, "Reshape", 2, 1);
        RequireInt(reshape, Attributes(reshape, "allowzero"), "allowzero", 0, 0);
        long[] shape = Int64s(reshape, reshape.Input[1]);
        long[] expected = sequences ? [0, 0, 2 * units] : [0, 2 * units];
        if (!shape.SequenceEqual(expected))
        {
            throw Unsupported(reshape, $"shape [{string.Join(", ", shape)}] (the exporter concatenates the directions: [{string.Join(", ", expected)}])");
        }

        Advance(reshape);
        return sequences;
    }

    /// <summary>Reads the Squeeze (and Transpose) after a recurrent node; true for every step's output.</summary>
    private bool ReadRecurrentOutput(NodeProto cell)
    {
        var squeeze = _position < _end ? _nodes[_position] : throw Fail(cell, "the recurrent node's output is not squeezed.");
        if (squeeze.OpType != "Squeeze" || squeeze.Input.Count != 2 || squeeze.Output.Count != 1)
        {
            throw Fail(squeeze, $"a {squeeze.OpType} follows the {cell.OpType} node; the exporter writes Squeeze(Y, [1]) or Squeeze(Y_h, [0]).");
        }

        CheckDomain(squeeze);
        Attributes(squeeze);
        bool sequences = squeeze.Input[0] == cell.Output[0];
        if (!sequences && squeeze.Input[0] != cell.Output[1])
        {
            throw Fail(squeeze, $"it reads '{squeeze.Input[0]}', not an output of node '{cell.Name}'.");
        }

        long[] axes = Int64s(squeeze, squeeze.Input[1]);
        if (axes.Length != 1 || axes[0] != (sequences ? 1 : 0))
        {
            throw Unsupported(squeeze, $"axes [{string.Join(", ", axes)}] (the exporter squeezes the direction axis, {(sequences ? 1 : 0)})");
        }

        _current = squeeze.Input[0];
        Advance(squeeze);
        if (sequences)
        {
            var back = _position < _end ? _nodes[_position] : throw Fail(squeeze, "the squeezed sequence is not transposed back to [batch, T, H].");
            Check(back, "Transpose", 1, 1);
            RequirePerm(back);
            Advance(back);
        }

        return sequences;
    }

    // Embedding: Cast(ids, to = int64) → Gather(table [V, E], ids, axis = 0).
    private void ReadEmbedding(NodeProto cast)
    {
        Check(cast, "Cast", 1, 1);
        var attributes = Attributes(cast, "to");
        RequireInt(cast, attributes, "to", (long)OnnxElementType.Int64, 0);
        if (_shape.Length != 1)
        {
            throw Fail(cast, $"an embedding reads token ids [T], but the tensor has per-example shape {Tensors.Tensor.FormatShape(_shape)}.");
        }

        var gather = Next(cast, "Gather", 2, [null, cast.Output[0]]);
        var dims = Dims(gather, gather.Input[0]);
        if (dims.Length != 2)
        {
            throw Fail(gather, $"the embedding table '{gather.Input[0]}' has dims {Tensors.Tensor.FormatShape(dims)}, expected [vocabulary, dimension].");
        }

        RequireInt(gather, Attributes(gather, "axis"), "axis", 0, 0);
        _layers.Add((new Embedding(dims[0], dims[1]), [Floats(gather, gather.Input[0], dims)]));
        _shape = [_shape[0], dims[1]];
        _position++;
        Advance(gather);
    }

    // Reshape: Reshape(x, [0, ..shape]) with the data's size.
    private void ReadReshape(NodeProto node)
    {
        Check(node, "Reshape", 2, 1);
        RequireInt(node, Attributes(node, "allowzero"), "allowzero", 0, 0);
        long[] shape = Int64s(node, node.Input[1]);
        long size = _shape.Aggregate(1L, (a, b) => a * b), target = shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        if (shape.Length < 2 || shape[0] != 0 || shape.Skip(1).Any(d => d < 1 || d > int.MaxValue) || target != size)
        {
            throw Unsupported(node, $"shape [{string.Join(", ", shape)}] (the exporter writes [0, ..sizes] keeping the batch and the {size} values of an example)");
        }

        int[] sizes = shape.Skip(1).Select(d => (int)d).ToArray();
        _layers.Add((new Reshape(sizes), []));
        _shape = sizes;
        Advance(node);
    }

    private void RequirePerm(NodeProto transpose)
    {
        var attributes = Attributes(transpose, "perm");
        if (!attributes.TryGetValue("perm", out var perm) || perm.Type != AttributeProto.Types.AttributeType.Ints || !perm.Ints.SequenceEqual([1L, 0L, 2L]))
        {
            throw Unsupported(transpose, "a permutation other than [1, 0, 2] (the exporter only swaps batch and time)");
        }
    }

    private long[] Int64s(NodeProto node, string name)
    {
        var t = Constant(node, name);
        if (t.DataType != (int)OnnxElementType.Int64 || t.Dims.Count != 1)
        {
            throw Fail(node, $"constant '{name}' is not a one-dimensional int64 tensor.");
        }

        if (t.HasRawData)
        {
            var raw = t.RawData.Span;
            if (raw.Length != t.Dims[0] * sizeof(long))
            {
                throw Fail(node, $"constant '{name}' holds {raw.Length} bytes, expected {t.Dims[0] * sizeof(long)}.");
            }

            var values = new long[t.Dims[0]];
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = BinaryPrimitives.ReadInt64LittleEndian(raw.Slice(i * sizeof(long)));
            }

            return values;
        }

        return t.Int64Data.Count == t.Dims[0] ? t.Int64Data.ToArray() : throw Fail(node, $"constant '{name}' holds {t.Int64Data.Count} values, expected {t.Dims[0]}.");
    }
}
