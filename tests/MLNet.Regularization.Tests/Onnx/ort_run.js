// Runs ONNX models in the real ONNX Runtime (npm onnxruntime-node) for the export parity tests.
//
//   node ort_run.js <path to node_modules/onnxruntime-node> <manifest.json>
//
// The manifest is {"jobs": [{"model": "a.onnx", "input": "a.in.bin", "inputName": "features", "shape": [128, 8],
// "runs": 1, "outputs": ["probabilities", "predicted_label"], "out": "a.out"}]}. The input file holds float32
// values, little-endian, row-major. For every job and output this writes <out>.<output>.bin: the raw tensor
// bytes (float32 or int64, little-endian) of every run, one run after the other. One session per model, created
// once, so repeated runs (Monte Carlo) sample from one session as a user would. Prints one JSON line per job.
'use strict';
const fs = require('fs');

async function main() {
  const [modulePath, manifestPath] = process.argv.slice(2);
  if (!modulePath || !manifestPath) {
    throw new Error('usage: node ort_run.js <onnxruntime-node module path> <manifest.json>');
  }
  const ort = require(modulePath);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  for (const job of manifest.jobs) {
    const session = await ort.InferenceSession.create(job.model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const bytes = fs.readFileSync(job.input);
    const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const feeds = { [job.inputName]: new ort.Tensor('float32', values, job.shape) };
    const chunks = Object.fromEntries(job.outputs.map((name) => [name, []]));
    const types = {};
    const dims = {};
    for (let run = 0; run < (job.runs || 1); run++) {
      const result = await session.run(feeds, job.outputs);
      for (const name of job.outputs) {
        const tensor = result[name];
        types[name] = tensor.type;
        dims[name] = tensor.dims;
        const data = tensor.data;
        chunks[name].push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      }
    }
    for (const name of job.outputs) {
      fs.writeFileSync(`${job.out}.${name}.bin`, Buffer.concat(chunks[name]));
    }
    console.log(JSON.stringify({ model: job.model, types, dims }));
    if (session.release) {
      await session.release();
    }
  }
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
