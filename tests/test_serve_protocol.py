"""Whatever a client sends, the server's parsers answer with a BadRequest (a 400 or 413) or a checked
request: never another exception, which would be a 500."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("starlette", reason="the serve extra is not installed")

from cgan_runtime import Generator
from cgan_runtime.serve.pictures import PARAMETERS, parse_query
from cgan_runtime.serve.protocol import BadRequest, InferRequest, infer_response, parse_infer

from support import TINY_MIXING_MODEL

MAX_IMAGES = 16
SPEC = Generator(TINY_MIXING_MODEL, provider="cpu", threads=1).spec

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=6,
)
numbers = st.integers(-3, 12) | st.floats() | st.integers()
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["noise", "label", "label_weights", "colour"]) | json_values,
        "datatype": st.sampled_from(["FP32", "INT64", "FP64", "BYTES"]) | json_values,
        "shape": st.lists(st.integers(-1, 10), max_size=3) | json_values,
        "data": st.lists(numbers, max_size=40) | st.lists(st.lists(numbers, max_size=10), max_size=10) | json_values,
    },
    optional={"parameters": st.fixed_dictionaries({"binary_data_size": st.integers(0, 80) | json_values}) | json_values},
)
requests = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=4)},
    optional={"outputs": json_values | st.lists(st.fixed_dictionaries({"name": st.just("image"), "parameters": json_values})),
              "parameters": json_values, "id": json_values},
)


@given(requests | json_values, st.binary(max_size=80), st.none() | st.integers(-5, 2000).map(str) | st.text(max_size=4))
@settings(max_examples=100, deadline=None)
def test_an_infer_body_is_a_checked_request_or_a_bad_request(request, tail, header_length):
    header = json.dumps(request).encode()
    body = header + tail if header_length is not None else header
    try:
        parsed = parse_infer(body, header_length, SPEC, True, MAX_IMAGES)
    except BadRequest as exc:
        assert exc.status in (400, 413) and "\n" not in str(exc)
        return
    assert parsed.noise.shape == (parsed.count, SPEC.nz) and 1 <= parsed.count <= MAX_IMAGES


values = st.text(max_size=12) | st.sampled_from(["3", "3,7", "0", "-1", "99999999999", "1e3", "3=0.5,8=0.5", "red", ""])


@given(st.lists(st.tuples(st.sampled_from([*PARAMETERS, "x"]), values), max_size=6))
@settings(max_examples=100, deadline=None)
def test_a_generate_query_is_a_checked_request_or_a_bad_request(items):
    try:
        picture = parse_query(items, SPEC, True, MAX_IMAGES)
    except BadRequest as exc:
        assert exc.status in (400, 413) and "\n" not in str(exc)
        return
    assert 1 <= len(picture.labels) <= MAX_IMAGES


def test_json_output_reads_back_as_the_same_float32_bits():
    """The shortest text orjson writes for each float32 gives that float32 again through a float64 reader."""
    bits = np.random.default_rng(0).integers(0, 2**32, 1_000_000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    edges = [0.0, -0.0, 1.0, -1.0, 1e-45, -1e-45, 1.1754942e-38, 1.1754944e-38, 3.4028235e38, 0.99999994, 0.1]
    values = np.concatenate([values[np.isfinite(values)], np.array(edges, np.float32)])
    images = values.reshape(-1, 1, 1, 1)
    request = InferRequest(np.zeros((len(values), SPEC.nz), np.float32), np.zeros(len(values), np.int64), None, False, None)
    body, _ = infer_response("m", request, images)
    data = json.loads(body)["outputs"][0]["data"]
    np.testing.assert_array_equal(np.array(data, np.float32).view(np.uint32), values.view(np.uint32))
