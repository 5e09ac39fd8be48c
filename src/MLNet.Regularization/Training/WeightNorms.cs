using MLNet.Regularization.Layers;

namespace MLNet.Regularization.Training;

/// <summary>Norms of the units' incoming weight vectors, the quantity the max-norm constraint bounds.</summary>
public static class WeightNorms
{
    /// <summary>The largest L2 norm of any unit's incoming weights (a row of a dense layer's or a filter of a
    /// convolution's weight) in the network, biases and batch-norm parameters excluded; 0 for a network without
    /// weights. Below a max-norm bound c it means the constraint does not bind on these weights.</summary>
    /// <param name="network">A built network.</param>
    public static double LargestIncomingNorm(Network network)
    {
        ArgumentNullException.ThrowIfNull(network);
        double largest = 0;
        foreach (var p in network.Parameters.Where(p => p.Kind == ParameterKind.Weight))
        {
            var w = p.Value.Span;
            for (int r = 0; r + p.FanIn <= w.Length; r += p.FanIn)
            {
                double sq = 0;
                foreach (float v in w.Slice(r, p.FanIn))
                {
                    sq += (double)v * v;
                }

                largest = Math.Max(largest, Math.Sqrt(sq));
            }
        }

        return largest;
    }
}
