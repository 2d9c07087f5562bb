// Node.js side of bench/node.py: time cgan-edge.js with onnxruntime-node at one batch size.
//   node bench/node_generate.mjs MODEL BATCH CALLS  ->  one JSON line {"seconds": [...], ...}
// Each call is generateRaw (noise, session run, output), as Python's generate_raw.

import { readFile } from "node:fs/promises";
import { Generator } from "../web/cgan-edge.js";

const [model, batch, calls] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const generator = await Generator.load(await readFile(model), { name: model });
const labels = Array.from({ length: batch }, (_, i) => i % generator.spec.num_classes);
for (let i = 0; i < 3; i++) await generator.generateRaw(labels, i); // warm-up
const seconds = [];
for (let i = 0; i < calls; i++) {
  const start = process.hrtime.bigint();
  await generator.generateRaw(labels, i);
  seconds.push(Number(process.hrtime.bigint() - start) / 1e9);
}
await generator.session.release();
console.log(JSON.stringify({ seconds }));
