using MLNet.Regularization.Data;

namespace MLNet.Regularization.Training;

/// <summary>Copies the examples of a mini-batch into reusable tensors (one set per batch size, so a whole epoch
/// allocates nothing after the first two batches).</summary>
internal sealed class Batcher
{
    private readonly Dataset _data;
    private readonly int _targetWidth;
    private Tensor? _x;
    private float[] _targets = [];
    private int[] _labels = [];
    private Tensor? _gradient;

    public Batcher(Dataset data)
    {
        _data = data;
        _targetWidth = data.Task == TaskKind.Regression ? data.TargetSize : 1;
    }

    /// <summary>Gathers the examples at <paramref name="indices"/>.</summary>
    public (Tensor X, float[] Targets, int[] Labels) Gather(ReadOnlySpan<int> indices)
    {
        int size = indices.Length, d = _data.FeatureCount;
        Span<int> shape = stackalloc int[_data.Features.Rank];
        _data.Features.Shape.CopyTo(shape);
        shape[0] = size;
        _x = Tensor.Reuse(_x, shape);
        if (_targets.Length != size * _targetWidth)
        {
            _targets = new float[size * _targetWidth];
            _labels = new int[size];
        }

        var src = _data.Features.Span;
        var dst = _x.Span;
        for (int i = 0; i < size; i++)
        {
            int e = indices[i];
            src.Slice(e * d, d).CopyTo(dst.Slice(i * d, d));
            if (_data.Labels is { } labels)
            {
                _labels[i] = labels[e];
                _targets[i] = labels[e];
            }
            else
            {
                _data.Targets.AsSpan(e * _targetWidth, _targetWidth).CopyTo(_targets.AsSpan(i * _targetWidth, _targetWidth));
            }
        }

        return (_x, _targets, _labels);
    }

    /// <summary>A gradient buffer shaped like <paramref name="output"/>.</summary>
    public Tensor Gradient(Tensor output) => _gradient = Tensor.Reuse(_gradient, output.Shape);
}
