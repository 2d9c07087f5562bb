// The demo page: pick a label, a count and a seed; the grid follows every change.
// ?model=URL loads another file (index.html reads it). window.cganDemo exposes the state for tests and benchmarks.

import { Generator, SEED_LIMIT, toImageData } from "./cgan-edge.js";

// A morph strip is drawn too when the model can mix classes (format version 2 on).

const ALL = "__all__"; // the label choice "every label, one row each"
const PADDING = 2;
const $ = (id) => document.getElementById(id);
// Times are performance.now() values: ms since navigation started.
const demo = { generator: null, loadedMs: null, firstGridMs: null, lastGenerateMs: null };
window.cganDemo = demo;

// body[data-state] is "loading", "ready" (a grid is shown) or "error" (the status says why).
function setStatus(text, state) {
  $("status").textContent = text;
  $("status").className = state === "error" ? "error" : "";
  document.body.dataset.state = state;
}

async function load(url) {
  demo.generator = null;
  clearCanvases(); // never leave an old model's images under a new error
  setStatus(`loading ${url}…`, "loading");
  try {
    demo.generator = await Generator.load(url);
    demo.loadedMs ??= performance.now();
  } catch (error) {
    setStatus(`Cannot use this model: ${error.message}`, "error");
    return;
  }
  const names = demo.generator.classNames;
  $("label").replaceChildren(new Option("all labels", ALL), ...names.map((name) => new Option(name, name)));
  $("morph-from").replaceChildren(...names.map((name) => new Option(name, name)));
  $("morph-to").replaceChildren(...names.map((name) => new Option(name, name)));
  // Digits morph 3 -> 8 (two shapes that share strokes); other models their first class -> their last.
  const [from, to] = names.length >= 10 ? [3, 8] : [0, names.length - 1];
  $("morph-from").selectedIndex = from;
  $("morph-to").selectedIndex = to;
  $("heading").textContent = `cgan-edge: ${demo.generator.spec.dataset || "images"} in the browser`;
  $("morph-controls").hidden = $("morph-caption").hidden = !demo.generator.canMix;
  await draw();
}

// The labels asked for: `count` of one class, or `count` of each class, one row per class.
function request() {
  const count = whole("count");
  const names = $("label").value === ALL ? demo.generator.classNames : [$("label").value];
  return { labels: names.flatMap((name) => Array(count).fill(name)), cols: count };
}

// A number input's value, held to its own min and max (a typed value is not, by the browser).
function whole(id) {
  const input = $(id);
  const value = Number(input.value);
  const [min, max] = [Number(input.min), Number(input.max)];
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${id} must be a whole number from ${min} to ${max}, got '${input.value}'`);
  }
  return value;
}

// One run at a time: a change made while a grid is being drawn is drawn right after it.
let drawing = null;
let pending = false;
function draw() {
  pending = true;
  drawing ??= (async () => {
    while (pending) {
      pending = false;
      await drawOnce();
    }
    drawing = null;
  })();
  return drawing;
}

async function drawOnce() {
  const generator = demo.generator;
  if (!generator) return;
  try {
    const seed = Number($("seed").value);
    const { labels, cols } = request();
    const started = performance.now();
    const raw = await generator.generateRaw(labels, seed);
    demo.lastGenerateMs = performance.now() - started;
    paint($("grid"), toImageData(raw, generator.spec.output_range), cols);
    demo.firstGridMs ??= performance.now();
    if (generator.canMix) {
      const frames = whole("frames");
      const morph = await generator.generateMorphRaw($("morph-from").value, $("morph-to").value, frames, seed);
      paint($("morph"), toImageData(morph, generator.spec.output_range), frames);
    }
    setStatus(`${generator.spec.arch} · ${labels.length} images · seed ${seed} · ${demo.lastGenerateMs.toFixed(1)} ms`, "ready");
  } catch (error) {
    clearCanvases(); // the images shown must be the ones the controls ask for
    setStatus(error.message, "error");
  }
}

function clearCanvases() {
  for (const id of ["grid", "morph"]) $(id).width = $(id).height = 0;
}

function paint(canvas, images, cols) {
  const { width, height } = images[0];
  const rows = Math.ceil(images.length / cols);
  canvas.width = cols * (width + PADDING) + PADDING;
  canvas.height = rows * (height + PADDING) + PADDING;
  const scale = Math.max(1, Math.min(4, Math.floor(720 / canvas.width)));
  canvas.style.width = `${canvas.width * scale}px`;
  const context = canvas.getContext("2d");
  context.fillRect(0, 0, canvas.width, canvas.height);
  images.forEach((image, i) => {
    context.putImageData(image, PADDING + (i % cols) * (width + PADDING), PADDING + Math.floor(i / cols) * (height + PADDING));
  });
}

$("model").value = document.documentElement.dataset.model; // index.html chose it and started fetching it
for (const id of ["label", "count", "seed", "morph-from", "morph-to", "frames"]) $(id).addEventListener("input", draw);
$("reseed").addEventListener("click", () => {
  $("seed").value = Math.floor(Math.random() * 2 ** 32);
  draw();
});
$("seed").max = SEED_LIMIT - 1;
$("load").addEventListener("click", () => load($("model").value));
load($("model").value);
