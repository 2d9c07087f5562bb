// What cgan-edge needs from an ONNX file's protobuf bytes that onnxruntime-web does not expose:
// its metadata_props and its overridable initializers (graph inputs that also have a default),
// and a copy of the file in which one such input has no default, so that it can be fed.
// Field numbers are onnx.proto's.

const MODEL_GRAPH = 7;
const MODEL_METADATA_PROPS = 14;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const TENSOR_NAME = 8;
const ELEMENT_TYPES = { 1: "float32", 6: "int32", 7: "int64", 10: "float16", 11: "float64" };

const decoder = new TextDecoder("utf-8", { fatal: true });

/** The metadata_props as a plain object of strings. */
export function readMetadataProps(bytes) {
  const props = {};
  for (const entry of fields(bytes, 0, bytes.length, MODEL_METADATA_PROPS)) {
    props[text(bytes, first(bytes, entry, 1))] = text(bytes, first(bytes, entry, 2));
  }
  return props;
}

/**
 * Graph inputs that are also initializers, as onnxruntime-web's value metadata:
 * [{ name, isTensor, type, shape }], a dim being a number, a name, or null when unnamed.
 */
export function readOverridableInitializers(bytes) {
  const graph = first(bytes, { start: 0, end: bytes.length }, MODEL_GRAPH);
  if (!graph) return [];
  const initialized = new Set([...fields(bytes, graph.start, graph.end, GRAPH_INITIALIZER)].map((t) => initializerName(bytes, t)));
  return [...fields(bytes, graph.start, graph.end, GRAPH_INPUT)]
    .map((input) => valueInfo(bytes, input))
    .filter((input) => initialized.has(input.name));
}

/** A copy of the file without the initializer called `name`: that graph input becomes a required one. */
export function withoutInitializer(bytes, name) {
  const graph = first(bytes, { start: 0, end: bytes.length }, MODEL_GRAPH);
  const graphParts = [...fields(bytes, graph.start, graph.end)]
    .filter((f) => !(f.field === GRAPH_INITIALIZER && initializerName(bytes, f) === name))
    .map((f) => bytes.subarray(f.from, f.end));
  const modelParts = [...fields(bytes, 0, bytes.length)].map((f) =>
    f.field === MODEL_GRAPH ? lengthDelimited(MODEL_GRAPH, concat(graphParts)) : bytes.subarray(f.from, f.end),
  );
  return concat(modelParts);
}

function initializerName(bytes, tensor) {
  return text(bytes, first(bytes, tensor, TENSOR_NAME));
}

// ValueInfoProto { name = 1; type = 2 { tensor_type = 1 { elem_type = 1; shape = 2 { dim = 1 { dim_value = 1; dim_param = 2 } } } } }
function valueInfo(bytes, info) {
  const name = text(bytes, first(bytes, info, 1));
  const tensor = first(bytes, first(bytes, info, 2), 1);
  if (!tensor) return { name, isTensor: false };
  const element = first(bytes, tensor, 1);
  const code = element ? readVarint(bytes, element.start)[0] : 0;
  const shape = first(bytes, tensor, 2);
  const dims = shape
    ? [...fields(bytes, shape.start, shape.end, 1)].map((dim) => {
        const value = first(bytes, dim, 1);
        const param = first(bytes, dim, 2);
        return value ? readVarint(bytes, value.start)[0] : param ? text(bytes, param) : null;
      })
    : [];
  return { name, isTensor: true, type: ELEMENT_TYPES[code] ?? `onnx element type ${code}`, shape: dims };
}

function* fields(bytes, pos, end, only = null) {
  while (pos < end) {
    const from = pos;
    let tag;
    [tag, pos] = readVarint(bytes, pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let start = pos;
    if (wire === 0) [, pos] = readVarint(bytes, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let length;
      [length, start] = readVarint(bytes, pos);
      pos = start + length;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
    if (pos > end) throw new Error("truncated protobuf message");
    if (only === null || field === only) yield { field, wire, from, start, end: pos };
  }
}

function first(bytes, parent, field) {
  if (!parent) return undefined;
  for (const f of fields(bytes, parent.start, parent.end, field)) return f;
  return undefined;
}

function text(bytes, f) {
  return f ? decoder.decode(bytes.subarray(f.start, f.end)) : "";
}

function readVarint(bytes, pos) {
  let value = 0;
  for (let scale = 1; pos < bytes.length; scale *= 128) {
    const byte = bytes[pos++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
  }
  throw new Error("truncated protobuf varint");
}

function varint(value) {
  const out = [];
  for (; value >= 0x80; value = Math.floor(value / 128)) out.push((value % 128) | 0x80);
  out.push(value);
  return Uint8Array.from(out);
}

function lengthDelimited(field, payload) {
  return concat([varint(field * 8 + 2), varint(payload.length), payload]);
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
