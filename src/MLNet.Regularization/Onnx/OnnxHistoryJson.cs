using System.Globalization;
using System.Text;
using System.Text.Json;
using MLNet.Regularization.Training;

namespace MLNet.Regularization.Onnx;

/// <summary>The training history as compact JSON for the <c>history</c> metadata entry, and back.</summary>
internal static class OnnxHistoryJson
{
    public static string Write(TrainingHistory history)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("model_epoch", history.ModelEpoch);
            w.WriteString("stop_reason", history.StopReason.ToString());
            w.WriteStartArray("epochs");
            foreach (var e in history.Epochs)
            {
                w.WriteStartObject();
                w.WriteNumber("epoch", e.Epoch);
                Number(w, "train_loss", e.TrainLoss);
                Number(w, "train_accuracy", e.TrainAccuracy);
                Number(w, "validation_loss", e.ValidationLoss);
                Number(w, "validation_accuracy", e.ValidationAccuracy);
                w.WriteNumber("learning_rate", e.LearningRate);
                Number(w, "seconds", e.Seconds);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Reads what <see cref="Write"/> wrote; throws <see cref="FormatException"/> otherwise.</summary>
    public static TrainingHistory Read(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var epochs = new List<EpochRecord>();
            foreach (var e in root.GetProperty("epochs").EnumerateArray())
            {
                epochs.Add(new EpochRecord(
                    e.GetProperty("epoch").GetInt32(), Number(e, "train_loss")!.Value, Number(e, "train_accuracy")!.Value,
                    Number(e, "validation_loss"), Number(e, "validation_accuracy"), e.GetProperty("learning_rate").GetSingle(),
                    Number(e, "seconds")!.Value));
            }

            var stop = Enum.Parse<StopReason>(root.GetProperty("stop_reason").GetString() ?? "", ignoreCase: false);
            return new TrainingHistory(epochs, root.GetProperty("model_epoch").GetInt32(), stop);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or ArgumentException)
        {
            throw new FormatException($"the training history is not in the expected form: {e.Message}", e);
        }
    }

    // JSON has no NaN or infinity: such values are written as strings ("NaN" for a regression's accuracy).
    private static void Number(Utf8JsonWriter w, string name, double? value)
    {
        if (value is not double v)
        {
            w.WriteNull(name);
        }
        else if (double.IsFinite(v))
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteString(name, v.ToString(CultureInfo.InvariantCulture));
        }
    }

    private static double? Number(JsonElement e, string name)
    {
        var p = e.GetProperty(name);
        return p.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => double.Parse(p.GetString()!, CultureInfo.InvariantCulture),
            _ => p.GetDouble(),
        };
    }
}
