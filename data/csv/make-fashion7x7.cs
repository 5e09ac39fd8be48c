// Regenerates fashion7x7-train.csv and fashion7x7-test.csv from the committed Fashion-MNIST subset:
//
//   dotnet run data/csv/make-fashion7x7.cs          (from the repository root; .NET 10 file-based app)
//
// Each 28x28 image is shrunk to 7x7 by averaging 4x4 blocks of pixels; a cell is that mean on the 0..255 scale,
// rounded to an integer. Columns p0..p48 run row by row; the label column holds the class name.
#:project ../../src/MLNet.Regularization/MLNet.Regularization.csproj
#:property PublishAot=false
using System.Globalization;
using System.Text;
using MLNet.Regularization.Data;

const int TrainRows = 600, TestRows = 200, Block = 4, Side = 28 / Block;
var (train, test) = SampleData.LoadFashionMnistSmall();
Write(Path.Combine("data", "csv", "fashion7x7-train.csv"), train, TrainRows);
Write(Path.Combine("data", "csv", "fashion7x7-test.csv"), test, TestRows);

static void Write(string path, Dataset data, int rows)
{
    var csv = new StringBuilder();
    csv.Append(string.Join(",", Enumerable.Range(0, Side * Side).Select(i => $"p{i}"))).Append(",label\n");
    var x = data.Features.Span;
    for (int n = 0; n < rows; n++)
    {
        var image = x.Slice(n * 784, 784);
        for (int by = 0; by < Side; by++)
        {
            for (int bx = 0; bx < Side; bx++)
            {
                double sum = 0;
                for (int dy = 0; dy < Block; dy++)
                {
                    for (int dx = 0; dx < Block; dx++)
                    {
                        sum += image[((by * Block) + dy) * 28 + (bx * Block) + dx];
                    }
                }

                int value = (int)Math.Round(sum / (Block * Block) * 255, MidpointRounding.AwayFromZero);
                csv.Append(value.ToString(CultureInfo.InvariantCulture)).Append(',');
            }
        }

        csv.Append(data.ClassNames![data.Labels![n]]).Append('\n');
    }

    File.WriteAllText(path, csv.ToString());
    Console.WriteLine($"{path}: {rows} rows");
}
