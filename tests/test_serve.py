"""`cgan-serve`'s HTTP API: the Open Inference Protocol for a client nobody here wrote, /generate byte for byte
as cgan-gen, batching that changes no pixel, and every bad request answered with its status and one line."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("uvicorn", reason="the serve extra is not installed")
pytest.importorskip("starlette", reason="the serve extra is not installed")

from cgan_runtime import Generator
from cgan_runtime.noise import noise_for_labels
from cgan_runtime.serve.app import body_limit

from serving import MODEL_NAME, infer_body, metric, request, running_server
from support import FIXTURES, TINY_MIXING_MODEL

COLOUR_MODEL = FIXTURES / "colour_generator.onnx"
MAX_IMAGES = 16


@pytest.fixture(scope="module")
def mixing_generator() -> Generator:
    return Generator(TINY_MIXING_MODEL, provider="cpu", threads=1)


@pytest.fixture(scope="module")
def server(mixing_generator):
    with running_server(mixing_generator, max_images=MAX_IMAGES, max_queue=256) as url:
        yield url


def infer_url(url: str) -> str:
    return f"{url}/v2/models/{MODEL_NAME}/infer"


def test_a_v2_client_reads_the_metadata_and_gets_the_floats_of_generate_raw(server, mixing_generator):
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=server.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL_NAME)
    metadata = client.get_model_metadata(MODEL_NAME)
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        ("noise", "FP32", [-1, 8]), ("label", "INT64", [-1]), ("label_weights", "FP32", [-1, 10])
    ]
    assert metadata["outputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
    assert metadata["cgan"]["class_names"] == [str(d) for d in range(10)] and metadata["cgan"]["format_version"] == "2"

    noise = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    labels = np.array([1, 5, 9], dtype=np.int64)
    weights = np.zeros((3, 10), np.float32)
    weights[:, 3], weights[:, 8] = 0.25, 0.75
    for with_weights in (False, True):
        inputs = [triton.InferInput("noise", [3, 8], "FP32"), triton.InferInput("label", [3], "INT64")]
        inputs[0].set_data_from_numpy(noise, binary_data=False)
        inputs[1].set_data_from_numpy(labels, binary_data=False)
        if with_weights:
            inputs.append(triton.InferInput("label_weights", [3, 10], "FP32"))
            inputs[2].set_data_from_numpy(weights, binary_data=False)
        result = client.infer(MODEL_NAME, inputs, outputs=[triton.InferRequestedOutput("image", binary_data=False)])
        expected = (mixing_generator.generate_mixed_raw(weights, noise=noise) if with_weights
                    else mixing_generator.generate_raw(labels, noise=noise))
        np.testing.assert_array_equal(result.as_numpy("image"), expected)


def test_binary_tensors_and_tritons_batched_label_shape_carry_the_same_floats(server, mixing_generator):
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=server.removeprefix("http://"))
    noise = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    labels = np.array([0, 7], dtype=np.int64)
    inputs = [triton.InferInput("noise", [2, 8], "FP32"), triton.InferInput("label", [2, 1], "INT64")]
    inputs[0].set_data_from_numpy(noise, binary_data=True)
    inputs[1].set_data_from_numpy(labels[:, None], binary_data=True)  # [N, 1], as Triton's batcher wants it
    result = client.infer(MODEL_NAME, inputs)  # outputs as binary data by default
    np.testing.assert_array_equal(result.as_numpy("image"), mixing_generator.generate_raw(labels, noise=noise))


@pytest.mark.parametrize(
    ("model", "query", "args"),
    [
        (TINY_MIXING_MODEL, "label=3,7&n=4&seed=0&grid=1&scale=2&format=png",
         ["--label", "3,7", "-n", "4", "--seed", "0", "--grid", "--scale", "2", "-o", "out.png"]),
        (COLOUR_MODEL, "label=blue&seed=5&scale=3&format=webp", ["--label", "blue", "--seed", "5", "--scale", "3", "-o", "out.webp"]),
        (TINY_MIXING_MODEL, "mix=3=0.7,8=0.3&n=3&seed=2&grid=1&format=jpeg",
         ["--mix", "3=0.7,8=0.3", "-n", "3", "--seed", "2", "--grid", "-o", "out.jpg"]),
    ],
    ids=["grid", "class-name", "mix"],
)
def test_generate_answers_the_bytes_cgan_gen_writes(model, query, args, cgan_gen, tmp_path, monkeypatch):
    with running_server(Generator(model, provider="cpu", threads=1)) as url:
        answer = request(f"{url}/generate?{query}")
    assert answer.status == 200, answer.body
    monkeypatch.chdir(tmp_path)
    result = cgan_gen(*args, "--model", model, "--provider", "cpu")
    assert result.exit_code == 0, result.stderr
    assert answer.body == (tmp_path / args[-1]).read_bytes()
    assert answer.headers["content-type"] == {"png": "image/png", "webp": "image/webp", "jpg": "image/jpeg"}[args[-1].split(".")[1]]


def test_concurrent_requests_are_batched_and_each_gets_exactly_its_own_images(mixing_generator):
    requests = [(seed, np.array([seed % 10, (3 * seed) % 10], dtype=np.int64)) for seed in range(32)]
    with running_server(mixing_generator, max_batch=64, max_delay_ms=200) as url:  # 64: all 32 requests fit one batch
        def ask(seed_labels):
            seed, labels = seed_labels
            answer = request(infer_url(url), infer_body(noise_for_labels(labels, 8, seed), labels))
            return np.array(answer.json()["outputs"][0]["data"], dtype=np.float32).reshape(-1, 1, 28, 28)

        with ThreadPoolExecutor(32) as pool:
            images = list(pool.map(ask, requests))
        metrics = request(f"{url}/metrics").body.decode()
    for (seed, labels), got in zip(requests, images):
        np.testing.assert_array_equal(got, mixing_generator.generate_raw(labels, seed))  # as if served alone
    runs, generated = metric(metrics, "cgan_batch_images_count"), metric(metrics, "cgan_batch_images_sum")
    assert generated == 64 + 1  # the requests' images, and the warm-up run's one
    assert runs < 32, f"{runs:g} model runs for 32 requests: nothing was batched"
    assert metric(metrics, "cgan_images_generated_total") == 65
    assert metric(metrics, 'cgan_requests_total{endpoint="/v2/models/{name}/infer",status="200"}') == 32
    assert metric(metrics, "cgan_queue_images") == 0


def test_a_full_queue_answers_503_with_retry_after(mixing_generator):
    labels = np.arange(4, dtype=np.int64)
    body = infer_body(noise_for_labels(labels, 8, 0), labels)
    with running_server(mixing_generator, max_queue=4, max_images=4, max_delay_ms=400) as url:
        first = {}
        waiting = threading.Thread(target=lambda: first.update(answer=request(infer_url(url), body)))
        waiting.start()
        while metric(request(f"{url}/metrics").body.decode(), "cgan_queue_images") < 4:
            time.sleep(0.005)
        refused = request(infer_url(url), body)
        waiting.join()
    assert refused.status == 503 and refused.headers["retry-after"] == "1"
    assert "retry" in refused.json()["error"]
    assert first["answer"].status == 200


def nan_noise_body() -> bytes:
    return b'{"inputs":[{"name":"noise","datatype":"FP32","shape":[1,8],"data":[NaN,0,0,0,0,0,0,0]},' \
           b'{"name":"label","datatype":"INT64","shape":[1],"data":[1]}]}'


def body_with(**changes) -> bytes:
    """A valid one-image infer body with some of its inputs' fields replaced."""
    request_ = json.loads(infer_body(np.zeros((1, 8), np.float32), np.array([1])))
    for name, fields in changes.items():
        next(i for i in request_["inputs"] if i["name"] == name).update(fields)
    return json.dumps(request_).encode()


def weights_body(row: list[float]) -> bytes:
    return infer_body(np.zeros((1, 8), np.float32), np.array([1]), np.array([row], np.float32))


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("infer", b"{not json", 400, "not JSON"),
        ("infer", b"[1, 2]", 400, '"inputs" list'),
        ("infer", body_with(noise={"shape": [1, 9]}), 400, "values for shape"),
        ("infer", body_with(noise={"shape": [2, 4]}), 400, "noise must have shape"),
        ("infer", body_with(noise={"datatype": "FP64"}), 400, "datatype"),
        ("infer", body_with(label={"datatype": "FP32"}), 400, "must be INT64"),
        ("infer", body_with(label={"data": [10]}), 400, "out of range"),
        ("infer", body_with(label={"data": [1.0]}), 400, "must be an integer"),
        ("infer", nan_noise_body(), 400, "finite"),
        ("infer", weights_body([0.5, 0.4] + [0.0] * 8), 400, "sum to 1"),
        ("infer", weights_body([1.5, -0.5] + [0.0] * 8), 400, ">= 0"),
        ("infer", b'{"inputs":[{"name":"colour","datatype":"FP32","shape":[1],"data":[1]}]}', 400, "unknown input"),
        ("infer", infer_body(np.zeros((MAX_IMAGES + 1, 8), np.float32), np.ones(MAX_IMAGES + 1, np.int64)), 413, "at most 16"),
        ("/v2/models/other/infer", infer_body(np.zeros((1, 8), np.float32), np.array([1])), 404, "unknown model"),
        ("/generate?label=10", None, 400, "out of range"),
        ("/generate?label=3,,4&grid=1", None, 400, "empty label"),
        ("/generate?label=3&n=2", None, 400, "grid=1"),
        ("/generate?label=3&n=17&grid=1", None, 413, "at most 16"),
        ("/generate?label=3&scale=1000", None, 413, "pixels"),
        ("/generate?mix=3=0.7,8=0.2", None, 400, "sum to 1"),
        ("/generate?mix=3:0.7", None, 400, "CLASS=WEIGHT"),
        ("/generate?label=3&format=gif", None, 400, "format"),
        ("/generate?label=3&seed=-1", None, 400, "seed"),
        ("/generate?label=3&colour=red", None, 400, "unknown parameter"),
        ("/nowhere", None, 404, "Not Found"),
    ],
)
def test_every_bad_request_gets_its_status_and_one_line_of_json(server, path, body, status, words):
    answer = request(infer_url(server) if path == "infer" else server + path, body)
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert answer.json() == {"error": error} and "\n" not in error and words in error


def test_a_body_past_the_limit_is_refused_before_it_is_read(server, mixing_generator):
    limit = body_limit(mixing_generator, MAX_IMAGES)
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: x\r\n"
                     f"Content-Length: {limit + 1}\r\n\r\n{{".encode())  # one byte of the body, then nothing
        assert conn.recv(4096).startswith(b"HTTP/1.1 413 ")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:  # no length given: counted as it comes
        chunk = b" " * 4096
        conn.sendall(f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                     + b"1000\r\n" + chunk + b"\r\n")
        for _ in range(limit // len(chunk) + 1):
            try:
                conn.sendall(b"1000\r\n" + chunk + b"\r\n")
            except OSError:  # the server answered and closed
                break
        answer = chunk = conn.recv(4096)
        while chunk:  # until the server closes
            try:
                chunk = conn.recv(4096)
            except ConnectionResetError:  # closed with our unread chunks in its buffer: the kernel resets
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 ") and b"passes" in answer


def test_with_an_api_key_only_the_health_checks_need_none(mixing_generator):
    with running_server(mixing_generator, api_key="s3cret") as url:
        assert request(f"{url}/generate?label=1").status == 401
        assert request(f"{url}/generate?label=1", headers={"Authorization": "Bearer wrong"}).status == 401
        assert request(f"{url}/generate?label=1", headers={"Authorization": "Bearer s3cret"}).status == 200
        assert request(f"{url}/v2/health/ready").status == 200


def test_a_client_that_is_slow_to_send_its_headers_is_cut_off(mixing_generator, monkeypatch):
    from cgan_runtime.serve.slow_clients import HeaderTimeoutProtocol

    monkeypatch.setattr(HeaderTimeoutProtocol, "header_timeout_s", 0.3)
    with running_server(mixing_generator) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as silent, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"GET /v2 HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            start = time.monotonic()
            assert silent.recv(100) == b"" and slow.recv(100) == b""  # closed by the server
            assert time.monotonic() - start < 5
        assert request(f"{url}/v2").status == 200  # a prompt client is served as before


@pytest.mark.parametrize("timer", ["asyncio.timeout", "wait_for"])  # wait_for: Python 3.10's way
def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closed(mixing_generator, monkeypatch, timer):
    from cgan_runtime.serve import app as serve_app

    monkeypatch.setattr(serve_app, "BODY_TIMEOUT_S", 0.3)
    if timer == "wait_for":
        monkeypatch.setattr(serve_app, "_timeout", None)
    with running_server(mixing_generator) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: x\r\n"
                         f"Content-Length: 100\r\n\r\n{{".encode())  # one byte of the 100, then nothing
            start = time.monotonic()
            answer = chunk = conn.recv(4096)
            while chunk:  # until the server closes
                chunk = conn.recv(4096)
                answer += chunk
        assert time.monotonic() - start < 5
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower()
    assert json.loads(body) == {"error": "the body did not arrive within 0.3 s"}
