"""Helpers for the cgan-serve tests: a server in a thread on a free loopback port, and a plain HTTP client.

Imports the serve extra: import this only after `pytest.importorskip("uvicorn")`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from cgan_runtime import Generator
from cgan_runtime.serve.app import build_app
from cgan_runtime.serve.settings import Settings
from cgan_runtime.serve.slow_clients import HeaderTimeoutProtocol

MODEL_NAME = "tiny"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@contextmanager
def running_server(generator: Generator, **settings) -> Iterator[str]:
    """Serve `generator` in a background thread; yields 'http://127.0.0.1:PORT'. Stops gracefully on exit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    app = build_app(generator, Settings(model_name=MODEL_NAME, **settings))
    config = uvicorn.Config(app, http=HeaderTimeoutProtocol, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[listener]),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 30) -> Answer:
    """GET, or POST `body`; any status comes back as an Answer rather than an exception."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def infer_body(noise, labels, weights=None) -> bytes:
    """A V2 infer request with JSON tensors."""
    inputs = [
        {"name": "noise", "datatype": "FP32", "shape": list(noise.shape), "data": noise.ravel().tolist()},
        {"name": "label", "datatype": "INT64", "shape": [len(labels)], "data": [int(v) for v in labels]},
    ]
    if weights is not None:
        inputs.append({"name": "label_weights", "datatype": "FP32", "shape": list(weights.shape), "data": weights.ravel().tolist()})
    return json.dumps({"inputs": inputs}).encode()


def metric(text: str, name: str) -> float:
    """One sample's value in Prometheus' text format (the first line that starts with `name`)."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise KeyError(name)
