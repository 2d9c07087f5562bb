"""The Open Inference Protocol ("V2", REST) for a cgan-edge generator: metadata, infer requests, responses.

JSON and numpy, no web framework: the app hands bytes in and gets bytes back.
Tensors travel as JSON (`data`, row-major) or, with Triton's binary tensor
data extension, as raw little-endian bytes after a JSON header whose length
is in the `Inference-Header-Content-Length` header.

orjson reads and writes the JSON: for a one-image request the standard
module's float-to-text alone took longer than everything else the server
does (300 us for 784 floats, against 14 us). It writes each FP32 value as
the shortest text that reads back as the same float32 (`0.1`, not
`0.10000000149011612`), at most 9 significant digits: read as a float64, such
a number lies far closer to that float32 than to the midpoint of any two, so
rounding it to float32 gives the float32 again. A client that reads `data` as
FP32, as the protocol says, gets `generate_raw`'s floats exactly.

Every malformed request becomes a `BadRequest` with one line saying what is
wrong; the numbers are checked with the runtime's own input checks
(`as_labels`, `as_noise`, `as_weights`), so the server refuses exactly what
`Generator` refuses.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..contract import INPUT_LABEL, INPUT_LABEL_WEIGHTS, INPUT_NOISE, OUTPUT_IMAGE, ModelSpec
from ..inputs import as_labels, as_noise
from ..mixing import as_weights

HEADER_LENGTH = b"inference-header-content-length"  # lower case, as ASGI gives header names
PLATFORM = "onnxruntime_onnx"
MODEL_VERSION = "1"
# V2 datatype -> numpy dtype, for the tensors a cgan-edge generator has.
DATATYPES = {"FP32": np.dtype("<f4"), "INT64": np.dtype("<i8")}


class BadRequest(ValueError):
    """A request the client must fix: 400, or `status` (413 for too many images)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def too_many(images: int, max_images: int) -> BadRequest:
    return BadRequest(f"{images} images asked for: this server generates at most {max_images} per request", 413)


@dataclass(frozen=True)
class InferRequest:
    """One checked infer request: its images' noise, labels and, for a mix, class weights."""

    noise: np.ndarray  # float32 [N, nz]
    labels: np.ndarray  # int64 [N]
    weights: np.ndarray | None  # float32 [N, num_classes]
    binary_output: bool
    request_id: str | None

    @property
    def count(self) -> int:
        return len(self.labels)


def model_metadata(name: str, spec: ModelSpec, can_mix: bool, format_version: str | None) -> dict[str, Any]:
    """`GET /v2/models/{name}`: the tensors as the protocol describes them, plus the cgan spec."""
    inputs = [
        {"name": INPUT_NOISE, "datatype": "FP32", "shape": [-1, spec.nz]},
        {"name": INPUT_LABEL, "datatype": "INT64", "shape": [-1]},
    ]
    if can_mix:
        inputs.append({"name": INPUT_LABEL_WEIGHTS, "datatype": "FP32", "shape": [-1, spec.num_classes]})
    return {
        "name": name,
        "versions": [MODEL_VERSION],
        "platform": PLATFORM,
        "inputs": inputs,
        "outputs": [{"name": OUTPUT_IMAGE, "datatype": "FP32", "shape": [-1, *spec.image_shape]}],
        "cgan": {**spec.to_dict(), "format_version": format_version, "can_mix": can_mix},
    }


def parse_infer(
    body: bytes, header_length: str | None, spec: ModelSpec, can_mix: bool, max_images: int
) -> InferRequest:
    """The body of `POST /v2/models/{name}/infer` as checked arrays; BadRequest for anything else."""
    header, binary = _split(body, header_length)
    try:
        request = orjson.loads(header)
    except orjson.JSONDecodeError:
        # The standard module reads more (NaN, integers past 64 bits, UTF-16): what it accepts is
        # refused below with the reason Generator would give ("finite", "outside INT64").
        try:
            request = json.loads(header)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise BadRequest(f"the request is not JSON: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise BadRequest('the request must be a JSON object with an "inputs" list')
    expected = {INPUT_NOISE, INPUT_LABEL} | ({INPUT_LABEL_WEIGHTS} if can_mix else set())
    tensors: dict[str, np.ndarray] = {}
    for entry in request["inputs"]:
        name, array, binary = _input(entry, binary)
        if name not in expected:
            raise BadRequest(_unknown_input(name, expected, can_mix))
        if name in tensors:
            raise BadRequest(f"input {name!r} is given twice")
        tensors[name] = array
    if binary:
        raise BadRequest(f"{len(binary)} bytes of binary data follow the inputs that no input claims")
    missing = sorted({INPUT_NOISE, INPUT_LABEL} - tensors.keys())
    if missing:
        raise BadRequest(f"missing input {missing[0]!r}: a request needs {INPUT_NOISE!r} and {INPUT_LABEL!r}")
    labels = tensors[INPUT_LABEL]
    if labels.ndim == 2 and labels.shape[1:] == (1,):
        labels = labels[:, 0]  # [N, 1]: how Triton, batching, wants `label`; so one client runs against both
    if labels.ndim != 1 or not len(labels):
        raise BadRequest(f"input {INPUT_LABEL!r} must have shape [N] with N >= 1, got {list(labels.shape)}")
    if len(labels) > max_images:
        raise too_many(len(labels), max_images)
    try:
        labels = as_labels(labels, spec.num_classes)
        noise = as_noise(tensors[INPUT_NOISE], len(labels), spec.nz)
        weights = tensors.get(INPUT_LABEL_WEIGHTS)
        if weights is not None:
            if weights.shape != (len(labels), spec.num_classes):
                raise ValueError(
                    f"{INPUT_LABEL_WEIGHTS} must have shape [{len(labels)}, {spec.num_classes}], got {list(weights.shape)}"
                )
            weights = as_weights(weights, spec.num_classes)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return InferRequest(noise, labels, weights, _wants_binary(request), _request_id(request))


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tail (empty without the binary extension)."""
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 <= length <= len(body):
        raise BadRequest(f"Inference-Header-Content-Length must be 0 to the body's {len(body)} bytes, got {header_length!r}")
    return body[:length], body[length:]


def _input(entry: Any, binary: bytes) -> tuple[str, np.ndarray, bytes]:
    """One input tensor as an array of its declared shape and dtype, and the binary data left after it."""
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise BadRequest('every input must be an object with a "name"')
    name = entry["name"]
    datatype, shape = entry.get("datatype"), entry.get("shape")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise BadRequest(f"input {name!r} has datatype {datatype!r}: expected {_expected_type(name)}")
    if datatype != _expected_type(name):
        raise BadRequest(f"input {name!r} must be {_expected_type(name)}, got {datatype}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise BadRequest(f'input {name!r} needs a "shape" of non-negative integers, got {shape!r}')
    size = math.prod(shape)
    dtype = DATATYPES[datatype]
    parameters = entry.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadRequest(f"input {name!r} has parameters that are not an object")
    if "binary_data_size" in parameters:
        nbytes = parameters["binary_data_size"]
        if not isinstance(nbytes, int) or nbytes != size * dtype.itemsize or nbytes > len(binary):
            raise BadRequest(
                f"input {name!r}: binary_data_size {nbytes!r} does not match its shape {shape} "
                f"({size * dtype.itemsize} bytes) and the {len(binary)} bytes left"
            )
        return name, np.frombuffer(binary[:nbytes], dtype=dtype).reshape(shape), binary[nbytes:]
    return name, _from_json(name, entry.get("data"), shape, size, datatype), binary


def _from_json(name: str, data: Any, shape: list[int], size: int, datatype: str) -> np.ndarray:
    if not isinstance(data, list):
        raise BadRequest(f'input {name!r} needs its "data" as a JSON list (or binary data)')
    # The values' types as a set, made in C: checking each value in a Python loop cost more than the
    # rest of the parse. A parsed JSON value is exactly a list, int, float, str, bool, dict or None.
    types = set(map(type, data))
    flat = data
    if list in types:
        flat = _flatten(data, name)
        types = set(map(type, flat))
    if len(flat) != size:
        raise BadRequest(f"input {name!r} has {len(flat)} values for shape {shape} ({size} values)")
    if datatype == "INT64":
        if not types <= {int}:
            raise BadRequest(f"input {name!r} is INT64: every value must be an integer")
        try:
            return np.array(flat, dtype=np.int64).reshape(shape)
        except OverflowError:
            raise BadRequest(f"input {name!r} has an integer outside INT64") from None
    if not types <= {int, float}:
        raise BadRequest(f"input {name!r} is FP32: every value must be a number")
    # NaN, infinity and float32 overflow are refused by as_noise and as_weights, as for Generator's callers.
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.array(flat, dtype=np.float64).astype(np.float32).reshape(shape)
    except OverflowError:  # an integer past float64's range
        raise BadRequest(f"input {name!r} has a value outside FP32") from None


def _flatten(data: list[Any], name: str) -> list[Any]:
    """Row-major values of a nested list (the protocol allows nested and flat lists)."""
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                if len(stack) > 8:
                    raise BadRequest(f"input {name!r} is nested deeper than any tensor of this model")
                stack.append(iter(value))
                break
            flat.append(value)
        else:
            stack.pop()
    return flat


def _expected_type(name: str) -> str:
    return "INT64" if name == INPUT_LABEL else "FP32"


def _unknown_input(name: str, expected: set[str], can_mix: bool) -> str:
    if name == INPUT_LABEL_WEIGHTS and not can_mix:
        return f"this model is format version 1 and cannot mix classes: it takes no {INPUT_LABEL_WEIGHTS!r}"
    return f"unknown input {name!r}: the model takes {', '.join(sorted(expected))}"


def _wants_binary(request: dict[str, Any]) -> bool:
    """Whether the client asked for the output as binary data (the extension), else JSON."""
    parameters = request.get("parameters")
    outputs = request.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise BadRequest('"outputs" must be a list of objects')
        names = [o.get("name") for o in outputs]
        if any(n != OUTPUT_IMAGE for n in names):
            raise BadRequest(f"unknown output {next(n for n in names if n != OUTPUT_IMAGE)!r}: the model has {OUTPUT_IMAGE!r}")
        parameters = [o.get("parameters") or {} for o in outputs]
        if not all(isinstance(p, dict) for p in parameters):
            raise BadRequest("an output's parameters must be an object")
        return any(bool(p.get("binary_data")) for p in parameters)
    return isinstance(parameters, dict) and bool(parameters.get("binary_data_output"))


def _request_id(request: dict[str, Any]) -> str | None:
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest(f'"id" must be a string, got {request_id!r}')
    return request_id


def infer_response(name: str, request: InferRequest, images: np.ndarray) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The response body and its extra headers (ASGI pairs): `image` as JSON, or as binary data after a JSON header."""
    output: dict[str, Any] = {"name": OUTPUT_IMAGE, "datatype": "FP32", "shape": list(images.shape)}
    response: dict[str, Any] = {"model_name": name, "model_version": MODEL_VERSION, "outputs": [output]}
    if request.request_id is not None:
        response["id"] = request.request_id
    if not request.binary_output:
        output["data"] = np.ascontiguousarray(images, dtype=np.float32).ravel()
        return orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY), []
    raw = np.ascontiguousarray(images, dtype="<f4").tobytes()
    output["parameters"] = {"binary_data_size": len(raw)}
    header = orjson.dumps(response)
    return header + raw, [(HEADER_LENGTH, b"%d" % len(header))]
