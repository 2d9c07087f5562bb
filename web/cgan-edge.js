// cgan-edge generators in JavaScript: load an ONNX file with onnxruntime, check it against
// the cgan-edge contract (runtime/cgan_runtime/contract.py) as the Python runtime does, and
// generate images with the portable noise, so a (seed, label) pair gives the same image here
// as in Python.
//
// "#onnxruntime" is package.json's import: onnxruntime-node in Node.js, onnxruntime-web
// elsewhere (bundlers follow it too); a page without a bundler maps it in its import map.

import * as ort from "#onnxruntime";
import { checkSeed, noiseForLabels } from "./noise.js";
import { readMetadataProps, readOverridableInitializers, withoutInitializer } from "./onnx-proto.js";

export { SEED_LIMIT } from "./noise.js";

// The contract, in the names runtime/cgan_runtime/contract.py defines.
export const FORMAT_VERSIONS = ["1", "2"];
const LABEL_WEIGHTS_SINCE = 2; // the first format version whose files must take class weights
const WEIGHTS = "label_weights";
const KEY_FORMAT_VERSION = "cgan.format_version";
const KEY_SPEC = "cgan.spec";
const INPUTS = {
  noise: { type: "float32", rank: 2, described: "float32 [N, nz]" },
  label: { type: "int64", rank: 1, described: "int64 [N]" },
};
const OUTPUTS = { image: { type: "float32", rank: 4, described: "float32 [N, C, H, W]" } };
const INTEGER_FIELDS = ["nz", "num_classes"];
const WEIGHT_SUM_TOLERANCE = 1e-4; // as cgan_runtime.mixing: absorbs float rounding only
const SPEC_FIELDS = ["arch", "nz", "num_classes", "class_names", "image_shape", "output_range", "dataset"];
// What one request may hold: a quarter of the 4 GiB a WebAssembly page can address, where
// onnxruntime-web keeps its inputs and outputs. Beyond it a run fails deep inside onnxruntime
// ("memory access out of bounds", "std::bad_alloc") after seconds or minutes.
export const MAX_REQUEST_BYTES = 2 ** 30;

/** A file that loads but does not follow the cgan-edge contract. */
export class ContractError extends Error {
  constructor(message) {
    super(message);
    this.name = "ContractError";
  }
}

/** The model's spec from its metadata, checked as cgan_runtime.contract.spec_from_metadata does. */
export function specFromMetadata(metadata) {
  const version = metadata[KEY_FORMAT_VERSION];
  if (version === undefined) {
    throw new ContractError(`metadata has no '${KEY_FORMAT_VERSION}': not a cgan-edge generator`);
  }
  if (!FORMAT_VERSIONS.includes(version)) {
    throw new ContractError(
      `format version ${version} is not supported (this runtime reads versions ${FORMAT_VERSIONS.join(", ")})`,
    );
  }
  if (metadata[KEY_SPEC] === undefined) throw new ContractError(`metadata has no '${KEY_SPEC}'`);
  let spec;
  const literals = {}; // the counts as written: JSON.parse alone reads 8.0 as the integer 8
  let sourceAccess = false;
  try {
    spec = JSON.parse(metadata[KEY_SPEC], (key, value, context) => {
      sourceAccess ||= context !== undefined;
      if (INTEGER_FIELDS.includes(key) && context?.source !== undefined) literals[key] = context.source;
      return value;
    });
  } catch (error) {
    throw new ContractError(`metadata '${KEY_SPEC}' is not valid JSON: ${error.message}`);
  }
  if (!sourceAccess) {
    // An engine without JSON.parse's source text (Node.js 20): the literals from the text itself.
    // Only keys are followed by ':' in JSON, and the spec holds no nested objects; a value may be
    // a quoted string ("8"), which is no integer either.
    const pattern = new RegExp(`"(${INTEGER_FIELDS.join("|")})"\\s*:\\s*("[^"]*"|[-+.\\w]+)`, "g");
    for (const [, key, literal] of metadata[KEY_SPEC].matchAll(pattern)) literals[key] = literal;
  }
  for (const [key, literal] of Object.entries(literals)) {
    if (!/^-?\d+$/.test(literal)) throw new ContractError(`spec ${key} must be an integer, got ${literal}`);
  }
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
    throw new ContractError(`metadata '${KEY_SPEC}' must be a JSON object`);
  }
  const unknown = Object.keys(spec).filter((key) => !SPEC_FIELDS.includes(key));
  if (unknown.length) throw new ContractError(`unknown model spec fields: ${unknown.sort().join(", ")}`);
  checkSpec(spec);
  return spec;
}

function checkSpec(spec) {
  const positive = (n) => Number.isInteger(n) && n >= 1;
  const fail = (message) => {
    throw new ContractError(`metadata '${KEY_SPEC}': ${message}`);
  };
  if (!positive(spec.nz) || !positive(spec.num_classes)) {
    fail(`nz and num_classes must be positive integers, got nz=${spec.nz}, num_classes=${spec.num_classes}`);
  }
  if (!Array.isArray(spec.class_names) || spec.class_names.length !== spec.num_classes) {
    fail(`expected ${spec.num_classes} class names, got ${JSON.stringify(spec.class_names)}`);
  }
  spec.class_names = spec.class_names.map(String);
  if (!Array.isArray(spec.image_shape) || spec.image_shape.length !== 3 || !spec.image_shape.every(positive)) {
    fail(`image_shape must be (C, H, W) with positive sizes, got ${JSON.stringify(spec.image_shape)}`);
  }
  const range = spec.output_range;
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] < range[1])) {
    fail(`output_range must be (low, high) with low < high, got ${JSON.stringify(range)}`);
  }
}

// Lists written as the Python runtime writes them, so both say the same thing about a file.
const pyItem = (x) => (typeof x === "string" ? `'${x}'` : x === null ? "None" : String(x));
const pyList = (items) => `[${items.map(pyItem).join(", ")}]`;

// As cgan_runtime.validate: sizes no generator of this package comes near, so a file that
// claims them lies, and one image or noise row could exhaust memory on its own.
const MAX_NZ = 2 ** 16;
const MAX_IMAGE_SIDE = 4096;
const CHANNELS = [1, 3]; // grey or RGB: what ImageData and the image writers take

function checkSizes(spec) {
  if (spec.nz > MAX_NZ) throw new ContractError(`spec nz ${spec.nz} is larger than the ${MAX_NZ} a generator may have`);
  const [channels, height, width] = spec.image_shape;
  if (!CHANNELS.includes(channels) || Math.max(height, width) > MAX_IMAGE_SIDE) {
    throw new ContractError(
      `spec image_shape ${pyList(spec.image_shape)} is not (C, H, W) with C in (${CHANNELS.join(", ")}) ` +
        `and sides of at most ${MAX_IMAGE_SIDE}`,
    );
  }
}

function checkValues(kind, metadata, expected) {
  const names = metadata.map((m) => m.name).sort();
  const wanted = Object.keys(expected).sort();
  if (names.join("\n") !== wanted.join("\n")) {
    throw new ContractError(`expected ${kind}s ${pyList(wanted)}, got ${pyList(names)}`);
  }
  for (const value of metadata) {
    const { type, rank, described } = expected[value.name];
    if (!value.isTensor || value.type !== type || value.shape.length !== rank) {
      const got = value.isTensor ? `${value.type} with shape ${pyList(value.shape)}` : "a non-tensor value";
      throw new ContractError(`${kind} '${value.name}' must be ${described}, got ${got}`);
    }
  }
}

// As cgan_runtime.validate.mixing_input: version 2 on must carry label_weights with a default.
function checkWeightsInput(weights, spec) {
  const described = `float32 [N, ${spec.num_classes}] with default zeros`;
  if (weights === undefined) {
    throw new ContractError(`format version ${LABEL_WEIGHTS_SINCE} needs an optional input '${WEIGHTS}' (${described})`);
  }
  if (!weights.isTensor || weights.type !== "float32" || weights.shape.length !== 2) {
    throw new ContractError(`input '${WEIGHTS}' must be ${described}, got ${weights.type} with shape ${pyList(weights.shape)}`);
  }
  checkStaticDims(`input '${WEIGHTS}'`, weights.shape.slice(1), [spec.num_classes]);
}

function tryOr(read, fallback) {
  try {
    return read();
  } catch {
    return fallback; // not protobuf: onnxruntime says so when it reads the same bytes
  }
}

function checkStaticDims(what, dims, specDims) {
  // Dimensions are checked only where the file fixes them; N always varies.
  if (dims.some((d, i) => typeof d === "number" && d !== specDims[i])) {
    throw new ContractError(`${what} has dims ${pyList(dims)} after N, but the metadata spec says ${pyList(specDims)}`);
  }
}

/** A cgan-edge generator in one onnxruntime-web session, checked against the contract. */
export class Generator {
  /**
   * Load from a URL (fetched) or from the file's bytes (a Uint8Array; `name` is what errors call
   * it). Throws an Error saying what is wrong
   * for a file that cannot be fetched or is not ONNX, and a ContractError for one that
   * breaks the contract; nothing runs before the checks pass.
   */
  static async load(source, { name = source instanceof Uint8Array ? "the model" : String(source) } = {}) {
    let bytes = source;
    if (!(source instanceof Uint8Array)) {
      let response;
      try {
        response = await fetch(source);
      } catch (error) {
        throw new Error(`cannot fetch ${name}: ${error.message}`);
      }
      if (!response.ok) throw new Error(`cannot fetch ${name}: HTTP ${response.status} ${response.statusText}`);
      bytes = new Uint8Array(await response.arrayBuffer());
      name = response.url || name;
    }
    // onnxruntime-web cannot feed an input that has a default (label_weights in version 2 on),
    // so such a file runs as a copy where the input has none and zeros are fed instead.
    const metadata = tryOr(() => readMetadataProps(bytes), {});
    const weights = tryOr(() => readOverridableInitializers(bytes), []).find((input) => input.name === WEIGHTS);
    const canMix = weights !== undefined && Number(metadata[KEY_FORMAT_VERSION]) >= LABEL_WEIGHTS_SINCE;
    let session;
    try {
      session = await ort.InferenceSession.create(canMix ? withoutInitializer(bytes, WEIGHTS) : bytes);
    } catch (error) {
      throw new Error(`${name} is not a loadable ONNX model: ${error.message ?? error}`);
    }
    try {
      checkValues("input", session.inputMetadata.filter((input) => !(canMix && input.name === WEIGHTS)), INPUTS);
      checkValues("output", session.outputMetadata, OUTPUTS);
      const spec = specFromMetadata(metadata);
      checkSizes(spec);
      const byName = (list, n) => list.find((m) => m.name === n).shape.slice(1);
      checkStaticDims("input 'noise'", byName(session.inputMetadata, "noise"), [spec.nz]);
      checkStaticDims("output 'image'", byName(session.outputMetadata, "image"), spec.image_shape);
      if (Number(metadata[KEY_FORMAT_VERSION]) >= LABEL_WEIGHTS_SINCE) checkWeightsInput(weights, spec);
      const generator = new Generator(session, spec, name, canMix);
      await generator.#trialRun();
      return generator;
    } catch (error) {
      await session.release();
      throw new ContractError(`${name} breaks the cgan-edge generator contract: ${error.message}`);
    }
  }

  constructor(session, spec, name, canMix) {
    this.session = session;
    this.spec = Object.freeze(spec);
    this.name = name;
    /** Whether the file takes class weights (format version 2 on): generateMixedRaw, generateMorphRaw. */
    this.canMix = canMix;
  }

  get classNames() {
    return this.spec.class_names;
  }

  get nz() {
    return this.spec.nz;
  }

  /** [C, H, W] of one image. */
  get imageShape() {
    return this.spec.image_shape;
  }

  /**
   * Label indices for labels given as indices (numbers) or as strings: the class of that name or, when no
   * class has that name and the string is an integer ("2"), the class of that index. The rule of the
   * Python runtime and cgan-gen: a class named "2" is "2" wherever it sorts (0, 1, 10, 2, ...); 2 is index 2.
   */
  labelIndices(labels) {
    if (!Array.isArray(labels) || labels.length === 0) throw new RangeError("expected a non-empty array of labels");
    return labels.map((label) => {
      if (typeof label === "string") {
        const index = this.spec.class_names.indexOf(label);
        if (index >= 0) return index;
        if (!/^-?[0-9]+$/.test(label)) {
          throw new RangeError(`no class named '${label}' (classes: ${this.spec.class_names.join(", ")})`);
        }
        label = Number(label);
      }
      if (!Number.isInteger(label) || label < 0 || label >= this.spec.num_classes) {
        throw new RangeError(`label ${label} is out of range: expected an integer in [0, ${this.spec.num_classes})`);
      }
      return label;
    });
  }

  /** The model's own output: { data: Float32Array, dims: [N, C, H, W] }, values in spec.output_range. */
  async generateRaw(labels, seed) {
    this.#checkRequest(Array.isArray(labels) ? labels.length : 0, 0);
    const indices = this.labelIndices(labels);
    return this.#run(indices, noiseForLabels(indices, this.nz, checkSeed(seed)), null);
  }

  /**
   * Images conditioned on a mix of classes: `weights` is one { class: weight } object per image
   * (a class by name or index), each >= 0 and summing to 1. An image takes the noise of its
   * heaviest class (the lowest on a tie), so one-hot weights give exactly that label's image.
   */
  async generateMixedRaw(weights, seed) {
    this.#checkRequest(Array.isArray(weights) ? weights.length : 0, this.spec.num_classes);
    const rows = this.#weightRows(weights);
    const labels = rows.map((row) => row.indexOf(Math.max(...row)));
    return this.#run(labels, noiseForLabels(labels, this.nz, checkSeed(seed)), rows);
  }

  /** `frames` images from pure class `start` linearly on to pure `end`, all with `start`'s first noise. */
  async generateMorphRaw(start, end, frames, seed) {
    if (!Number.isInteger(frames) || frames < 2) throw new RangeError(`frames must be an integer >= 2, got ${frames}`);
    this.#checkRequest(frames, this.spec.num_classes);
    const [from, to] = this.labelIndices([start, end]);
    const rows = Array.from({ length: frames }, (_, i) => {
      const t = i / (frames - 1);
      const row = new Array(this.spec.num_classes).fill(0);
      row[from] += 1 - t;
      row[to] += t;
      return row;
    });
    const row = noiseForLabels([from], this.nz, checkSeed(seed));
    const noise = new Float32Array(frames * this.nz);
    for (let i = 0; i < frames; i++) noise.set(row, i * this.nz);
    return this.#run(rows.map((r) => r.indexOf(Math.max(...r))), noise, rows);
  }

  #weightRows(weights) {
    if (!this.canMix) throw new RangeError(`${this.name} is a format-version-1 generator, which cannot mix classes`);
    if (!Array.isArray(weights) || weights.length === 0) throw new RangeError("expected a non-empty array of class weights");
    return weights.map((mapping, image) => {
      const row = new Array(this.spec.num_classes).fill(0);
      for (const [cls, weight] of Object.entries(mapping)) {
        const [index] = this.labelIndices([cls]); // an object's keys are strings: a name, else an index
        if (!Number.isFinite(weight) || weight < 0) throw new RangeError(`class weights must be finite and >= 0, got ${weight} (image ${image})`);
        row[index] += weight;
      }
      const sum = row.reduce((a, b) => a + b, 0);
      if (Math.abs(sum - 1) > WEIGHT_SUM_TOLERANCE) throw new RangeError(`class weights must sum to 1 per image, got ${sum} (image ${image})`);
      return row.map((w) => w / sum);
    });
  }

  // Refuse, before anything is allocated, a request larger than MAX_REQUEST_BYTES: per image its noise, its
  // output (in onnxruntime's memory and copied out) and, mixing, its class weights (JS rows, flattened, float32).
  #checkRequest(images, classes) {
    const [channels, height, width] = this.imageShape;
    const perImage = 4 * this.nz + 8 * channels * height * width + 20 * classes;
    const needed = images * perImage;
    if (needed > MAX_REQUEST_BYTES) {
      const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
      throw new RangeError(
        `${images} images need about ${mib(needed)}, more than the ${mib(MAX_REQUEST_BYTES)} one request may use: ` +
          `ask for at most ${Math.floor(MAX_REQUEST_BYTES / perImage)} at a time`,
      );
    }
  }

  async #run(labels, noise, weightRows) {
    const { image } = await this.session.run(this.#feeds(labels, noise, weightRows));
    const dims = this.#checkedDims(image.dims, labels.length);
    checkFinite(image.data, `${labels.length} image(s)`);
    return { data: image.data, dims };
  }

  // As cgan_runtime.validate's trial run: the first and last class once, so a graph made for
  // fewer classes, or whose output differs from the spec, is refused at load, not mid-request.
  async #trialRun() {
    const labels = [...new Set([0, this.spec.num_classes - 1])];
    let output;
    try {
      output = await this.session.run(this.#feeds(labels, new Float32Array(labels.length * this.nz), null));
    } catch (error) {
      const firstLine = String(error.message ?? error).trim().split("\n")[0];
      throw new ContractError(
        `running it for labels ${pyList(labels)} (${this.spec.num_classes} classes per the spec) failed: ${firstLine}`,
      );
    }
    this.#checkedDims(output.image.dims, labels.length);
    checkFinite(output.image.data, `labels ${pyList(labels)} and zero noise`);
  }

  #feeds(labels, noise, weightRows) {
    const feeds = {
      noise: new ort.Tensor("float32", noise, [labels.length, this.nz]),
      label: new ort.Tensor("int64", BigInt64Array.from(labels, BigInt), [labels.length]),
    };
    if (this.canMix) {
      // Zeros are the input's default: exactly the integer label's image.
      const data = weightRows ? Float32Array.from(weightRows.flat()) : new Float32Array(labels.length * this.spec.num_classes);
      feeds[WEIGHTS] = new ort.Tensor("float32", data, [labels.length, this.spec.num_classes]);
    }
    return feeds;
  }

  #checkedDims(dims, count) {
    const expected = [count, ...this.imageShape];
    if (dims.join() !== expected.join()) {
      throw new ContractError(`output 'image' has shape ${pyList(dims)}, but the metadata spec says ${pyList(expected)}`);
    }
    return expected;
  }

  /** One ImageData per label (grey for C = 1, RGB for C = 3), as cgan-gen's uint8 pixels. */
  async generate(labels, seed) {
    return toImageData(await this.generateRaw(labels, seed), this.spec.output_range);
  }
}

// As cgan_runtime.validate.check_finite: NaN or infinity in the output means weights that are not numbers.
function checkFinite(data, what) {
  if (!data.every(Number.isFinite)) {
    throw new ContractError(`the model's output for ${what} holds NaN or infinity: its weights are not finite numbers`);
  }
}

/**
 * Model output { data, dims: [N, C, H, W] } in `outputRange` -> ImageData[], linear onto 0..255, clipped.
 * Where there is no ImageData (Node.js), plain objects of the same shape: { data, width, height }.
 */
export function toImageData({ data, dims }, outputRange) {
  const [count, channels, height, width] = dims;
  if (channels !== 1 && channels !== 3) throw new RangeError(`images with ${channels} channels have no ImageData form`);
  const [low, high] = outputRange;
  const plane = height * width;
  const images = [];
  for (let n = 0; n < count; n++) {
    const pixels = new Uint8ClampedArray(plane * 4);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        const v = data[(n * channels + (channels === 1 ? 0 : c)) * plane + p];
        pixels[4 * p + c] = Math.round((v - low) * (255 / (high - low))); // Uint8ClampedArray clips
      }
      pixels[4 * p + 3] = 255;
    }
    images.push(globalThis.ImageData ? new ImageData(pixels, width, height) : { data: pixels, width, height });
  }
  return images;
}
