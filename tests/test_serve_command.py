"""The `cgan-serve` command: it stops gracefully on SIGTERM (requests in flight finish, exit 0), serves
without torch, and a busy port, a bad model or a missing extra is one line and a non-zero exit."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("uvicorn", reason="the serve extra is not installed")

from cgan_runtime.commands.errors import EXIT_USAGE
from cgan_runtime.commands.serve import main

from serving import request
from support import BAD_MODELS, TINY_MIXING_MODEL, TINY_MODEL

SERVE_THEN_REPORT = """
import sys
from cgan_runtime.commands.serve import main
sys.argv = ["cgan-serve", *sys.argv[1:]]
main()
print("heavy modules loaded:", sorted(m for m in ("torch", "onnx", "torchvision") if m in sys.modules), file=sys.stderr)
"""


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0_without_torch(tmp_path, cgan_gen, monkeypatch):
    # --max-delay-ms holds a lone request in the batcher for a second: SIGTERM arrives while it waits.
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE_THEN_REPORT, "--model", TINY_MIXING_MODEL, "--port", "0", "--max-delay-ms", "1000",
         "--log-level", "warning"],
        stderr=subprocess.PIPE, text=True,
    )
    try:
        first = server.stderr.readline()
        url = re.search(r"on (http://\S+) ", first).group(1)
        while request(f"{url}/v2/health/ready").status != 200:
            time.sleep(0.02)
        answer = {}
        asking = threading.Thread(target=lambda: answer.update(got=request(f"{url}/generate?label=4&seed=9")))
        asking.start()
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        asking.join(30)
        code = server.wait(30)
        rest = server.stderr.read()
    finally:
        server.kill()
    assert code == 0, rest
    assert rest.splitlines()[-2:] == ["cgan-serve: stopped", "heavy modules loaded: []"]
    assert answer["got"].status == 200
    monkeypatch.chdir(tmp_path)
    assert cgan_gen("--label", "4", "--seed", "9", "--model", TINY_MIXING_MODEL, "-o", "four.png").exit_code == 0
    assert answer["got"].body == (tmp_path / "four.png").read_bytes()


def test_a_port_in_use_is_one_line_and_exit_1(run_cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(main, "cgan-serve", "--model", TINY_MODEL, "--port", port)
    assert result.exit_code == 1
    assert result.stderr_lines == [f"cgan-serve: error: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_a_bad_model_is_one_line_and_exit_1_and_frees_the_port(run_cli):
    result = run_cli(main, "cgan-serve", "--model", BAD_MODELS / "float_label.onnx", "--port", "0")
    assert result.exit_code == 1
    assert len(result.stderr_lines) == 1 and "breaks the cgan-edge generator contract" in result.stderr


def test_a_missing_serve_extra_is_named_in_one_line(run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what an install without the extra looks like to import
    result = run_cli(main, "cgan-serve", "--model", TINY_MODEL)
    assert result.exit_code == 1
    assert result.stderr_lines == [
        "cgan-serve: error: cgan-serve needs the serve extra (uvicorn is missing): pip install '.[serve]' in the cgan-edge clone"
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--host", "0.0.0.0"), "needs --api-key"),
        (("--max-images", "10", "--max-queue", "5"), "cannot exceed --max-queue"),
        (("--log-level", "loud"), "--log-level must be one of"),
    ],
)
def test_unsafe_or_inconsistent_options_are_usage_errors(run_cli, args, words):
    result = run_cli(main, "cgan-serve", "--model", TINY_MODEL, *args)
    assert result.exit_code == EXIT_USAGE and len(result.stderr_lines) == 1 and words in result.stderr
