// cgan-edge.js in Node.js with onnxruntime-node, against the Python runtime in the same run:
// the same floats for the same (seed, label), and the same refusals for broken files.
//
// Python is $CGAN_EDGE_PYTHON (.ci/run sets it), else the repository's .venv; a missing one fails.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import pngjs from "pngjs";
import { ContractError, Generator } from "cgan-edge";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PYTHON = process.env.CGAN_EDGE_PYTHON ?? `${ROOT}.venv/bin/python`;
const TOLERANCE = 1e-4;
const MODELS = ["assets/generator.onnx", "tests/fixtures/tiny_generator.onnx", "tests/fixtures/tiny_generator_v2.onnx"];
const REQUESTS = [
  { seed: 0, labels: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] },
  { seed: 3, labels: [7] },
  { seed: 2 ** 40 + 12345, labels: [5, 5, 9] },
];
const BAD = readdirSync(`${ROOT}tests/fixtures/bad`).filter((f) => f.endsWith(".onnx")).sort().map((f) => `tests/fixtures/bad/${f}`);

// What the Python runtime makes of the same files and requests, as JSON.
const PYTHON_SIDE = `
import json, sys
from cgan_runtime import Generator
models, requests, bad = json.loads(sys.argv[1])
out = {"raw": {}, "refused": {}}
for model in models:
    gen = Generator(model, threads=1)
    out["raw"][model] = [gen.generate_raw(r["labels"], seed=r["seed"]).ravel().tolist() for r in requests]
for path in bad:
    try:
        Generator(path, threads=1)
        out["refused"][path] = None
    except ValueError as error:
        out["refused"][path] = str(error)
print(json.dumps(out))
`;

function python() {
  assert.ok(existsSync(PYTHON), `no Python runtime at ${PYTHON}: set CGAN_EDGE_PYTHON`);
  const stdout = execFileSync(PYTHON, ["-c", PYTHON_SIDE, JSON.stringify([MODELS, REQUESTS, BAD])], {
    cwd: ROOT,
    maxBuffer: 64 * 2 ** 20,
    stdio: ["ignore", "pipe", "ignore"], // onnxruntime's load warnings are not the test's business
  });
  return JSON.parse(stdout);
}

const reference = python();

for (const model of MODELS) {
  test(`${model}: the same seed and label give Python's floats within ${TOLERANCE}`, async () => {
    const gen = await Generator.load(readFileSync(`${ROOT}${model}`), { name: model });
    try {
      for (const [i, { seed, labels }] of REQUESTS.entries()) {
        const { data, dims } = await gen.generateRaw(labels, seed);
        const expected = reference.raw[model][i];
        assert.equal(dims[0], labels.length);
        assert.equal(data.length, expected.length);
        let worst = 0;
        for (let k = 0; k < data.length; k++) worst = Math.max(worst, Math.abs(data[k] - expected[k]));
        assert.ok(worst <= TOLERANCE, `seed ${seed}, labels ${labels}: largest difference ${worst}`);
      }
    } finally {
      await gen.session.release();
    }
  });
}

for (const path of BAD) {
  test(`${path} is refused with the Python runtime's reason`, async () => {
    const message = reference.refused[path];
    assert.ok(message, `the Python runtime loads ${path}`);
    // The reason itself; what follows ", got" or " failed: " quotes each runtime's own words.
    const reason = message.split("contract: ", 2)[1].split(", got")[0].split(" failed: ")[0];
    await assert.rejects(Generator.load(readFileSync(`${ROOT}${path}`), { name: path }), (error) => {
      assert.ok(error instanceof ContractError, `${error.name}: ${error.message}`);
      assert.ok(error.message.includes(reason), `expected "${reason}" in "${error.message}"`);
      return true;
    });
  });
}

test("generate gives ImageData-shaped pixels in Node.js, as cgan-gen's", async () => {
  const gen = await Generator.load(readFileSync(`${ROOT}assets/generator.onnx`));
  try {
    const [image] = await gen.generate([7], 3);
    const [, height, width] = gen.imageShape;
    assert.deepEqual([image.width, image.height, image.data.length], [width, height, width * height * 4]);
    const raw = reference.raw["assets/generator.onnx"][1];
    const [low, high] = gen.spec.output_range;
    // Grey: R = G = B = the raw value mapped onto 0..255; alpha opaque.
    for (let p = 0; p < width * height; p++) {
      const expected = Math.min(255, Math.max(0, Math.round((raw[p] - low) * (255 / (high - low)))));
      assert.ok(Math.abs(image.data[4 * p] - expected) <= 1);
      assert.equal(image.data[4 * p + 3], 255);
    }
  } finally {
    await gen.session.release();
  }
});

test("examples/node-generate.mjs writes cgan-gen's PNG, pixel for pixel", () => {
  const dir = mkdtempSync(join(tmpdir(), "cgan-edge-"));
  try {
    const [fromNode, fromPython] = [join(dir, "node.png"), join(dir, "python.png")];
    const args = ["--label", "7", "--seed", "3", "-o"];
    execFileSync(process.execPath, [`${ROOT}web/examples/node-generate.mjs`, ...args, fromNode]);
    execFileSync(join(dirname(PYTHON), "cgan-gen"), [...args, fromPython], { stdio: "ignore" });
    const [a, b] = [fromNode, fromPython].map((file) => pngjs.PNG.sync.read(readFileSync(file)));
    assert.deepEqual([a.width, a.height, a.colorType], [b.width, b.height, b.colorType]);
    assert.deepEqual(a.data, b.data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
