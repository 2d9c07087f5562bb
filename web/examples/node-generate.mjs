#!/usr/bin/env node
// Draw one image with cgan-edge in Node.js and write it as a PNG: the same pixels as
// `cgan-gen --label L --seed S -o OUT.png` for the same model.
//
//   node examples/node-generate.mjs --label 7 --seed 3 -o seven.png [--model generator.onnx]
//
// The default model is the repository's shipped one, assets/generator.onnx.

import { readFile, rename, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import pngjs from "pngjs";
import { Generator } from "cgan-edge";

const SHIPPED = new URL("../../assets/generator.onnx", import.meta.url);

function fail(message) {
  console.error(`node-generate: ${message}`);
  process.exit(2);
}

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      label: { type: "string" },
      seed: { type: "string", default: "0" },
      model: { type: "string" },
      output: { type: "string", short: "o" },
    },
  }));
} catch (error) {
  fail(error.message);
}
if (options.label === undefined || options.output === undefined) fail("usage: --label L [--seed S] [--model FILE] -o OUT.png");
if (!/^\d+$/.test(options.seed)) fail(`--seed must be an integer >= 0, got ${options.seed}`);

const modelPath = options.model ?? SHIPPED;
let generator;
try {
  generator = await Generator.load(await readFile(modelPath), { name: String(options.model ?? "assets/generator.onnx") });
  // A label is a class name or an index, as in cgan-gen.
  const label = generator.classNames.includes(options.label) ? options.label : Number(options.label);
  const [image] = await generator.generate([label], Number(options.seed));
  const grey = generator.imageShape[0] === 1;
  const png = new pngjs.PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength); // RGBA
  const bytes = pngjs.PNG.sync.write(png, { colorType: grey ? 0 : 2, inputColorType: 6 });
  // Written whole beside the target, then renamed over it: never a half-written file.
  const partial = `${options.output}.partial-${process.pid}`;
  await writeFile(partial, bytes);
  await rename(partial, options.output);
} catch (error) {
  fail(error.message ?? String(error));
} finally {
  await generator?.session.release();
}
