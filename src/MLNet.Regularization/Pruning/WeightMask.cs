namespace MLNet.Regularization.Pruning;

/// <summary>
/// Which weights of a parameter survive pruning: one flag per weight, in the parameter's own (row-major) order.
/// Immutable, so clones of a network share it safely. Set it with <see cref="Layers.Parameter.SetMask"/>: the pruned
/// weights become exactly 0 and the optimizers keep them there (the updated weight and its velocity / Adam moments are
/// multiplied by the mask in the same fused pass, so neither gradient, weight decay nor momentum moves it), and a
/// training step re-zeroes them when it starts: W = M ⊙ W holds at every forward pass, which therefore computes with
/// the masked weights at no extra cost. Max-norm rescales rows and L2 adds λ·w, both of which leave a 0 at 0.
/// </summary>
/// <remarks>The flags are stored as floats (1 kept, 0 pruned) because that is what the optimizers' vector loop
/// multiplies by; <see cref="ToBits"/> / <see cref="FromBits"/> give a compact form (one bit per weight, least
/// significant bit first) for files and checkpoints.</remarks>
public sealed class WeightMask
{
    private readonly float[] _keep;

    private WeightMask(float[] keep, int keptCount)
    {
        _keep = keep;
        KeptCount = keptCount;
    }

    /// <summary>The number of weights the mask covers.</summary>
    public int Length => _keep.Length;

    /// <summary>How many weights survive.</summary>
    public int KeptCount { get; }

    /// <summary>How many weights are pruned.</summary>
    public int PrunedCount => Length - KeptCount;

    /// <summary>The fraction of weights pruned, in [0, 1].</summary>
    public double Sparsity => Length == 0 ? 0 : (double)PrunedCount / Length;

    /// <summary>1 for a kept weight, 0 for a pruned one (read by the optimizers' fused update).</summary>
    internal ReadOnlySpan<float> Keep => _keep;

    /// <summary>Whether weight <paramref name="index"/> survives.</summary>
    public bool IsKept(int index) => _keep[index] != 0f;

    /// <summary>A mask that keeps every one of <paramref name="length"/> weights.</summary>
    public static WeightMask All(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var keep = new float[length];
        keep.AsSpan().Fill(1f);
        return new WeightMask(keep, length);
    }

    /// <summary>A mask from one flag per weight (true = kept).</summary>
    public static WeightMask FromFlags(ReadOnlySpan<bool> kept)
    {
        var keep = new float[kept.Length];
        int count = 0;
        for (int i = 0; i < kept.Length; i++)
        {
            if (kept[i])
            {
                keep[i] = 1f;
                count++;
            }
        }

        return new WeightMask(keep, count);
    }

    /// <summary>The mask that keeps exactly the weights <paramref name="kept"/> keeps and this mask keeps.</summary>
    public WeightMask Intersect(WeightMask kept)
    {
        ArgumentNullException.ThrowIfNull(kept);
        if (kept.Length != Length)
        {
            throw new ArgumentException($"masks of {Length} and {kept.Length} weights cannot be combined.", nameof(kept));
        }

        var flags = new bool[Length];
        for (int i = 0; i < flags.Length; i++)
        {
            flags[i] = _keep[i] != 0f && kept._keep[i] != 0f;
        }

        return FromFlags(flags);
    }

    /// <summary>One flag per weight (true = kept).</summary>
    public bool[] ToFlags() => _keep.Select(k => k != 0f).ToArray();

    /// <summary>One bit per weight, weight i in bit i % 8 of byte i / 8 (1 = kept); ⌈Length / 8⌉ bytes.</summary>
    public byte[] ToBits()
    {
        var bits = new byte[(Length + 7) / 8];
        for (int i = 0; i < _keep.Length; i++)
        {
            if (_keep[i] != 0f)
            {
                bits[i >> 3] |= (byte)(1 << (i & 7));
            }
        }

        return bits;
    }

    /// <summary>Reads what <see cref="ToBits"/> wrote.</summary>
    /// <param name="bits">⌈<paramref name="length"/> / 8⌉ bytes; the unused high bits of the last byte must be 0.</param>
    /// <param name="length">The number of weights.</param>
    /// <exception cref="ArgumentException">The byte count does not fit the length, or an unused bit is set.</exception>
    public static WeightMask FromBits(ReadOnlySpan<byte> bits, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (bits.Length != (length + 7) / 8)
        {
            throw new ArgumentException($"a mask of {length} weights takes {(length + 7) / 8} bytes, got {bits.Length}.", nameof(bits));
        }

        if (length % 8 != 0 && bits[^1] >> (length % 8) != 0)
        {
            throw new ArgumentException($"the last byte of a mask of {length} weights has bits set beyond its end.", nameof(bits));
        }

        var keep = new float[length];
        int count = 0;
        for (int i = 0; i < length; i++)
        {
            if ((bits[i >> 3] >> (i & 7) & 1) != 0)
            {
                keep[i] = 1f;
                count++;
            }
        }

        return new WeightMask(keep, count);
    }

    /// <summary>Sets the pruned entries of <paramref name="values"/> to 0 (the kept ones are multiplied by 1: unchanged).</summary>
    internal void ApplyTo(Span<float> values)
    {
        if (values.Length != Length)
        {
            throw new ArgumentException($"a mask of {Length} weights cannot be applied to {values.Length} values.", nameof(values));
        }

        System.Numerics.Tensors.TensorPrimitives.Multiply(values, _keep, values);
    }
}
