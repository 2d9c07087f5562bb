"""`cgan-serve`: a generator as a local HTTP service (Open Inference Protocol, /generate, /metrics).

Thin: check the options, take the port, load and check the model, then hand
over to uvicorn, in that order, so that each mistake is one line and a
non-zero exit before anything is served. uvicorn handles SIGTERM and Ctrl-C:
it stops accepting, lets the requests in flight finish (for at most
`GRACE_S`), and the command exits 0.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..inputs import check_threads
from ..providers import PROVIDERS
from ..serve.settings import Settings
from .errors import EXIT_USAGE, UserError, run_app, usage
from .loading import load_generator

PROG = "cgan-serve"
GRACE_S = 30  # how long requests in flight may take to finish once a stop is asked for
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# The model's threads leave one core to the event loop, which parses and answers every request: with a
# thread on every core, onnxruntime's threads (spinning between runs) took the loop's CPU, and one-image
# requests on 2 cores cost twice the CPU each (measured: docs/performance.md, Serving).
MODEL_THREADS = max(1, (os.cpu_count() or 1) - 1)
MAX_DELAY_MS = 1000

app = typer.Typer(add_completion=False, help="Serve a cgan-edge ONNX generator over HTTP.")


@app.command()
def cgan_serve(
    model: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Generator .onnx file.", show_default="the one shipped with the package"),
    ] = None,
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to listen on; anything but loopback needs --api-key or --insecure.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="N", help="Port to listen on (0: any free one).")] = 8000,
    threads: Annotated[
        int,
        typer.Option(min=1, metavar="N", help="onnxruntime threads, at most 4 per core.", show_default="the cores but one"),
    ] = MODEL_THREADS,
    provider: Annotated[str, typer.Option(metavar="|".join(PROVIDERS), help="onnxruntime's execution provider.")] = "auto",
    max_batch: Annotated[int, typer.Option(min=1, metavar="N", help="Most images in one model run.")] = Settings.max_batch,
    max_delay_ms: Annotated[
        float, typer.Option(min=0, max=MAX_DELAY_MS, metavar="MS", help="How long a request may wait for others to join its batch.")
    ] = Settings.max_delay_ms,
    max_queue: Annotated[int, typer.Option(min=1, metavar="N", help="Images waiting for the model beyond which requests get 503.")] = Settings.max_queue,
    max_images: Annotated[int, typer.Option(min=1, metavar="N", help="Most images in one request (more: 413).")] = Settings.max_images,
    model_name: Annotated[
        str | None, typer.Option(metavar="NAME", help="The model's name in /v2/models/NAME.", show_default="the file's stem")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(metavar="KEY", envvar="CGAN_SERVE_API_KEY", help="Require 'Authorization: Bearer KEY' (health checks excepted).")
    ] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Listen beyond loopback without an API key.")] = False,
    log_level: Annotated[str, typer.Option(metavar="|".join(LOG_LEVELS), help="What to log; debug logs every request.")] = "info",
) -> None:
    """Serve images over HTTP: V2 inference at /v2/models/NAME/infer, pictures at /generate, metrics at /metrics."""
    _require_extra()
    if provider not in PROVIDERS:
        raise UserError(f"--provider must be one of {', '.join(PROVIDERS)}, got {provider!r}", EXIT_USAGE)
    if log_level not in LOG_LEVELS:
        raise UserError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}", EXIT_USAGE)
    usage(check_threads, threads, prefix="--")
    if max_images > max_queue:
        raise UserError(f"--max-images ({max_images}) cannot exceed --max-queue ({max_queue})", EXIT_USAGE)
    if not _is_loopback(host) and api_key is None and not insecure:
        raise UserError(f"listening on {host} needs --api-key KEY (or --insecure, for a trusted network)", EXIT_USAGE)
    if api_key is not None and (not api_key or not api_key.isprintable() or " " in api_key):
        raise UserError("--api-key must be printable, with no spaces", EXIT_USAGE)

    from ..serve.app import build_app

    listener = _listen(host, port)
    try:
        generator = load_generator(model, provider, threads, _note)
    except BaseException:
        listener.close()
        raise
    settings = Settings(
        model_name=model_name or generator.path.stem, max_batch=max_batch, max_delay_ms=max_delay_ms,
        max_queue=max_queue, max_images=max_images, api_key=api_key,
    )
    bound_host, bound_port = listener.getsockname()[:2]
    _note(f"serving {generator.path} as {settings.model_name!r} on http://{_url_host(bound_host)}:{bound_port} "
          f"({generator.providers[0]}, batches of up to {max_batch} images)")
    serve(build_app(generator, settings), listener, log_level)


def serve(asgi_app: object, listener: socket.socket, log_level: str) -> None:
    """Run the app on `listener` until SIGTERM or Ctrl-C, then return once the requests in flight are done."""
    import uvicorn

    from ..serve.slow_clients import HeaderTimeoutProtocol

    config = uvicorn.Config(
        asgi_app, http=HeaderTimeoutProtocol, log_level=log_level, access_log=log_level == "debug",
        timeout_graceful_shutdown=GRACE_S, server_header=False,
    )
    server = uvicorn.Server(config)
    # uvicorn catches SIGTERM and SIGINT while it serves, then raises them again for the handlers it found:
    # these, so that a requested stop ends in exit 0 rather than in run_command's "terminated".
    previous = {sig: signal.signal(sig, lambda signum, frame: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[listener])  # on the loop the config names: uvloop where installed
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        raise UserError("the server did not start (see the log above)")
    _note("stopped")


def _require_extra() -> None:
    """One line naming the extra when the web stack is not installed."""
    for module in ("starlette", "uvicorn", "prometheus_client", "orjson"):
        try:
            __import__(module)
        except ImportError:
            raise UserError(
                f"cgan-serve needs the serve extra ({module} is missing): pip install '.[serve]' in the cgan-edge clone"
            ) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, taken before the model loads so a busy port fails at once."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_USAGE) from None
    family, kind, proto, _, address = infos[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
        listener.bind(address)
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        raise UserError(f"cannot listen on {_url_host(host)}:{port}: {exc.strerror or exc}") from None
    listener.set_inheritable(True)
    return listener


def _note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def main() -> None:
    run_app(app, PROG)


if __name__ == "__main__":
    main()
