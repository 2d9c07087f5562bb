"""The ASGI app: the Open Inference Protocol's endpoints, /generate and /metrics over one shared Generator.

Starlette routes and answers; `protocol` and `pictures` turn requests into
checked arrays; `Batcher` runs them on the model, merged. Every error a client
can cause is answered with its status and `{"error": "one line"}`; an error
of the server's own is logged and answered 500 without details.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..contract import KEY_FORMAT_VERSION
from ..generator import Generator
from .batcher import Batcher, QueueFull
from .metrics import CONTENT_TYPE, Metrics
from .pictures import parse_query, render
from .protocol import HEADER_LENGTH, BadRequest, infer_response, model_metadata, parse_infer
from .settings import Settings

_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+

log = logging.getLogger("cgan_serve")
SERVER_NAME = "cgan-serve"
RETRY_AFTER_S = 1  # what a refused client is told to wait: about one batch's time, rounded up
BODY_TIMEOUT_S = 10.0  # a client that has not sent its whole body by then is cut off
# JSON spends at most this many bytes per number (a float32's repr, a comma, spaces): the body limit's unit.
JSON_BYTES_PER_VALUE = 32
BODY_SLACK = 64 * 1024  # the JSON around the numbers


def body_limit(generator: Generator, max_images: int) -> int:
    """The largest infer body accepted: `max_images` images' inputs as JSON, generously."""
    values = generator.nz + 1 + (generator.num_classes if generator.can_mix else 0)
    return max_images * values * JSON_BYTES_PER_VALUE + BODY_SLACK


def build_app(generator: Generator, settings: Settings) -> Starlette:
    """The app serving `generator`; its batcher starts and stops with the app's lifespan."""
    name = settings.model_name
    spec, can_mix = generator.spec, generator.can_mix
    limit = body_limit(generator, settings.max_images)
    metadata = model_metadata(name, spec, can_mix, generator.metadata.get(KEY_FORMAT_VERSION))
    state = {"ready": False}

    def run(noise: np.ndarray, labels: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        if weights is None:
            return generator.generate_raw(labels, noise=noise, batch_size=settings.max_batch)
        return generator.generate_mixed_raw(weights, noise=noise, batch_size=settings.max_batch)

    batcher = Batcher(
        run, max_batch=settings.max_batch, max_delay=settings.max_delay_ms / 1000, max_queue=settings.max_queue,
        on_batch=lambda images: metrics.observe_batch(images),
    )
    metrics = Metrics(settings.max_batch, lambda: batcher.queued_images)

    async def live(request: Request) -> Response:
        return Response(status_code=200)

    async def ready(request: Request) -> Response:
        return Response(status_code=200 if state["ready"] else 503)

    async def server_metadata(request: Request) -> Response:
        from .. import __version__

        return JSONResponse({"name": SERVER_NAME, "version": __version__, "extensions": ["binary_tensor_data"]})

    async def model(request: Request) -> Response:
        _check_model(request.path_params["name"], name)
        return JSONResponse(metadata)

    async def model_ready(request: Request) -> Response:
        _check_model(request.path_params["name"], name)
        return Response(status_code=200 if state["ready"] else 503)

    @_AsgiEndpoint
    async def infer(scope: Scope, receive: Receive, send: Send) -> None:
        # The hot path, as a bare ASGI app: Starlette's Request and Response objects cost more per
        # request than the rest of a one-image answer. Errors are raised, as in the other
        # endpoints, for the app's exception handlers to answer.
        _check_model(scope["path_params"]["name"], name)
        body = await _read_body(_header(scope, b"content-length"), receive, limit)
        inputs = parse_infer(body, _header(scope, HEADER_LENGTH), spec, can_mix, settings.max_images)
        images = await batcher.submit(inputs.noise, inputs.labels, inputs.weights)
        content, headers = infer_response(name, inputs, images)
        media = b"application/octet-stream" if inputs.binary_output else b"application/json"
        start = [(b"content-length", b"%d" % len(content)), (b"content-type", media), *headers]
        await send({"type": "http.response.start", "status": 200, "headers": start})
        await send({"type": "http.response.body", "body": content})

    async def generate(request: Request) -> Response:
        picture = parse_query(request.query_params.multi_items(), spec, can_mix, settings.max_images)
        images = await batcher.submit(picture.noise, picture.labels, picture.weights)
        content = render(picture, images, spec.output_range)
        return Response(content, media_type=picture.media_type, headers={"Cgan-Seed": str(picture.seed)})

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        batcher.start()
        # Ready means the model has run: the first run allocates onnxruntime's buffers, which takes a while.
        await batcher.submit(np.zeros((1, spec.nz), np.float32), np.zeros(1, np.int64))
        state["ready"] = True
        yield
        state["ready"] = False
        await batcher.stop()  # after the server has finished the requests in flight

    endpoints = {  # routes are tried in this order: the busiest first
        infer: "/v2/models/{name}/infer", generate: "/generate",
        live: "/v2/health/live", ready: "/v2/health/ready", server_metadata: "/v2",
        model: "/v2/models/{name}", model_ready: "/v2/models/{name}/ready", prometheus: "/metrics",
    }
    routes = [
        Route(path, endpoint, methods=["POST"] if endpoint is infer else ["GET"]) for endpoint, path in endpoints.items()
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, BadRequest: _bad_request, QueueFull: _queue_full, Exception: _server_error},
        lifespan=lifespan,
    )
    if settings.api_key is not None:
        app.add_middleware(_Authorize, api_key=settings.api_key)
    app.add_middleware(_Observe, metrics=metrics, endpoints={e.__name__: p for e, p in endpoints.items()})  # outermost
    return app


def _check_model(asked: str, name: str) -> None:
    if asked != name:
        raise HTTPException(404, f"unknown model {asked!r}: this server serves {name!r}")


def _header(scope: Scope, key: bytes) -> str | None:
    """The first value of header `key` (lower case), as Starlette's `Request.headers.get` gives it."""
    for header, value in scope["headers"]:
        if header == key:
            return value.decode("latin-1")
    return None


async def _read_body(declared: str | None, receive: Receive, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to pass `limit`: from Content-Length, before reading."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadRequest(f"the body is {int(declared):,} bytes: this server takes at most {limit:,}", 413)

    async def read() -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BadRequest(f"the body passes {limit:,} bytes, the most this server takes", 413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    try:
        if _timeout is None:  # Python 3.10
            return await asyncio.wait_for(read(), BODY_TIMEOUT_S)
        async with _timeout(BODY_TIMEOUT_S):  # no task of its own, as wait_for makes for each call
            return await read()
    except asyncio.TimeoutError:
        raise BadRequest(f"the body did not arrive within {BODY_TIMEOUT_S:g} s", 408) from None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail), exc.headers)


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    # A body refused unread (too large, too slow) leaves the connection unusable: close it.
    unread = {"Connection": "close"} if exc.status in (408, 413) else None
    return _error(exc.status, str(exc), unread)


async def _queue_full(request: Request, exc: Exception) -> Response:
    return _error(503, f"busy: {exc}; retry after {RETRY_AFTER_S} s", {"Retry-After": str(RETRY_AFTER_S)})


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal error: see the server's log")


class _AsgiEndpoint:
    """A bare ASGI app as a route's endpoint (Starlette would wrap a plain function as a Request handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.__name__ = app, getattr(app, "__name__", "endpoint")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class _Observe:
    """Count every answer by endpoint and status, and time it (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, endpoints: dict[str, str]) -> None:
        self.app, self.metrics, self.endpoints = app, metrics, endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            endpoint = scope.get("endpoint")
            label = self.endpoints.get(getattr(endpoint, "__name__", ""), "other")
            self.metrics.observe_request(label, status, time.perf_counter() - start)


class _Authorize:
    """With --api-key: every request but the health checks must carry `Authorization: Bearer KEY`."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app, self.expected = app, f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/v2/health/"):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = _error(401, "missing or wrong API key: send Authorization: Bearer KEY",
                                  {"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
