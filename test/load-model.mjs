// Loads an mcbuild output folder served over loopback HTTP (as a web page would) with stock TF.js, either
// through mcbuild/runtime's loader or with tf.loadLayersModel(url) alone. Prints the predicted class of each
// input sample, or the load error, as JSON. Needs `npm run build` (imports mcbuild/runtime, i.e. dist/src/runtime/index.js).
// usage: node test/load-model.mjs <dir> <loader|stock> <layers|graph> <inputs.f32> <count> <h,w,c>
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
// Imported by the package's export name, as users do (Node resolves a package's own name from inside it).
import { mcbuildLoader } from 'mcbuild/runtime';

const [dir, how, kind, inputsFile, countText, shapeText] = process.argv.slice(2);
const server = createServer(async (req, res) => {
  const name = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^\/+/, '');
  try {
    const body = await readFile(join(dir, name));
    res.writeHead(200, { 'content-type': name.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/model.json`;
try {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  const source = how === 'loader' ? mcbuildLoader(url) : url;
  let model;
  try {
    model = kind === 'graph' ? await tf.loadGraphModel(source) : await tf.loadLayersModel(source);
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }));
    process.exit(0);
  }
  const count = Number(countText);
  const shape = shapeText.split(',').map(Number);
  const raw = await readFile(inputsFile);
  const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [count, ...shape]);
  const classes = await tf.tidy(() => model.predict(x).argMax(-1)).data();
  process.stdout.write(JSON.stringify({ classes: Array.from(classes) }));
} finally {
  server.close();
}
