"""cgan-serve under load: a real load generator (`hey`) against the server, beside bare onnxruntime.

    python -m bench.serve                      # the full run: 30 s a case, overload 60 s, soak 600 s
    python -m bench.serve --seconds 15 --overload-seconds 20 --soak-seconds 120   # a short run
    python -m bench.serve --cases a,b --seconds 20   # some cases only (a and b: the target's ratio)

(a) bare onnxruntime at batch 256 (the ceiling); (b) 64 clients, one image per
V2 `infer` (JSON tensors); (c) the same with batching off (--max-batch 1); (d)
64 clients asking /generate for a PNG; (e) 16 clients, 64 images per V2 request
(binary tensors; JSON for comparison); and, to show what HTTP alone costs, the
health check under the same 64 clients. Then overload (10x more clients than the
queue holds: every answer a 200 or a 503, peak RSS) and a soak at half of (b)'s
rate (RSS at the start and the end). The server and hey share this machine's
cores: the CPU each used is reported beside its numbers, with the load average,
and images per CPU-second the server used, which compares with (a) on a busy machine.

Traffic goes to 127.0.0.1 only. Results: printed, and as JSON with --out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from cgan_runtime import Generator
from cgan_runtime.noise import noise_for_labels

from .command_line import model_parser
from .machine import describe, load, summary

CEILING_BATCH = 256
CASES = ("a", "b", "b0", "c", "d", "e", "overload", "soak")
TICKS = os.sysconf("SC_CLK_TCK")


def ceiling(model: Path | None, seconds: float) -> dict[str, Any]:
    """(a): images/s of Generator.generate_raw at batch 256, no server."""
    generator = Generator(model, provider="cpu")
    labels = np.arange(CEILING_BATCH, dtype=np.int64) % generator.num_classes
    noise = noise_for_labels(labels, generator.nz, 0)
    generator.generate_raw(labels, noise=noise)
    runs, start, cpu = 0, time.perf_counter(), time.process_time()  # process time: onnxruntime's threads too
    while time.perf_counter() - start < seconds:
        generator.generate_raw(labels, noise=noise)
        runs += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    images = runs * CEILING_BATCH
    return {"case": "a", "what": "bare onnxruntime, batch 256", "images_per_s": images / elapsed,
            "images_per_cpu_s": images / cpu, **load()}


class Server:
    """cgan-serve in a subprocess on a free loopback port; its CPU time and memory read from /proc."""

    def __init__(self, model: Path | None, *options: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        args = [sys.executable, "-m", "cgan_runtime.commands.serve", "--port", str(self.port), "--log-level", "warning"]
        args += ["--model", str(model)] if model else []
        self.process = subprocess.Popen([*args, *options], stderr=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while not self._ready():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"cgan-serve did not start: {self.process.stderr.read()}")
            time.sleep(0.1)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/v2/health/ready", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def memory_kib(self, key: str) -> int:
        """VmRSS (now) or VmHWM (peak) in KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(rf"^{key}:\s+(\d+) kB", status, re.M).group(1))

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as answer:
            return answer.read().decode()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        self.process.stderr.close()
        return code


def hey(url: str, clients: int, seconds: float, body: Path | None = None, headers: dict[str, str] | None = None,
        rate: float | None = None) -> dict[str, Any]:
    """Run hey; its requests/s, p50/p99 latency, status counts and the CPU it used itself."""
    args = ["hey", "-z", f"{seconds:g}s", "-c", str(clients), "-t", "30"]
    if body is not None:
        args += ["-m", "POST", "-D", str(body), "-T", "application/json"]
    for key, value in (headers or {}).items():
        args += ["-H", f"{key}: {value}"]
    if rate is not None:
        args += ["-q", f"{rate:g}"]
    start = time.perf_counter()
    process = subprocess.Popen([*args, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, _, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    statuses = {int(code): int(count) for code, count in re.findall(r"\[(\d+)\]\s+(\d+) responses", output)}
    errors = re.search(r"Error distribution:(.*)", output, re.S)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _percentile(output, 50),
        "p99_ms": _percentile(output, 99),
        "statuses": statuses,
        "client_errors": errors.group(1).strip() if errors else "",
        "hey_cpu_share": (usage.ru_utime + usage.ru_stime) / (wall * os.cpu_count()),
    }


def _percentile(output: str, p: int) -> float | None:
    match = re.search(rf"\s{p}% in ([\d.]+) secs", output)
    return float(match.group(1)) * 1000 if match else None


def loaded(server: Server, url: str, clients: int, seconds: float, images_per_request: int, **kwargs: Any) -> dict[str, Any]:
    """hey against `server`, with the server's own CPU share and the images/s it delivered."""
    cpu, start = server.cpu_seconds(), time.perf_counter()
    result = hey(url, clients, seconds, **kwargs)
    result["server_cpu_share"] = (server.cpu_seconds() - cpu) / ((time.perf_counter() - start) * os.cpu_count())
    result["images_per_s"] = result["requests_per_s"] * images_per_request * _share_ok(result)
    # On a shared machine the server gets what the scheduler gives it: images per CPU-second it used
    # compares with (a)'s whatever the load.
    result["images_per_cpu_s"] = result["images_per_s"] / (result["server_cpu_share"] * os.cpu_count() or 1)
    result["clients"] = clients
    return {**result, **load()}


def _share_ok(result: dict[str, Any]) -> float:
    total = sum(result["statuses"].values())
    return result["statuses"].get(200, 0) / total if total else 0.0


def infer_bodies(model: Path | None, folder: Path) -> dict[str, tuple[Path, dict[str, str]]]:
    """V2 request bodies: one image as JSON; 64 images as JSON and as binary tensors."""
    generator = Generator(model, provider="cpu")
    bodies = {}
    for name, count, binary in (("one", 1, False), ("many_json", 64, False), ("many_binary", 64, True)):
        labels = np.arange(count, dtype=np.int64) % generator.num_classes
        noise = noise_for_labels(labels, generator.nz, 0)
        tensors = [("noise", "FP32", noise), ("label", "INT64", labels)]
        inputs, tail = [], b""
        for tensor, datatype, array in tensors:
            entry = {"name": tensor, "datatype": datatype, "shape": list(array.shape)}
            if binary:
                raw = array.astype("<f4" if datatype == "FP32" else "<i8").tobytes()
                entry["parameters"] = {"binary_data_size": len(raw)}
                tail += raw
            else:
                entry["data"] = array.ravel().tolist()
            inputs.append(entry)
        request: dict[str, Any] = {"inputs": inputs}
        if binary:
            request["outputs"] = [{"name": "image", "parameters": {"binary_data": True}}]
        header = json.dumps(request).encode()
        path = folder / f"{name}.body"
        path.write_bytes(header + tail)
        bodies[name] = (path, {"Inference-Header-Content-Length": str(len(header))} if binary else {})
    return bodies


def main() -> None:
    parser = model_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=30, help="each case's duration")
    parser.add_argument("--overload-seconds", type=float, default=60)
    parser.add_argument("--soak-seconds", type=float, default=600)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated cases to run, of {','.join(CASES)} (b0: the health check, beside b)")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    if not cases <= set(CASES):
        parser.error(f"--cases: unknown {', '.join(sorted(cases - set(CASES)))}; the cases are {','.join(CASES)}")
    if "soak" in cases and "b" not in cases:
        parser.error("--cases: soak runs at half of b's rate, so it needs b too")
    machine = describe()
    print(summary(machine), flush=True)
    results: dict[str, Any] = {"machine": machine, "cases": []}

    def report(row: dict[str, Any]) -> None:
        results["cases"].append(row)
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
        print(json.dumps(shown), flush=True)

    if "a" in cases:
        report(ceiling(args.model, min(args.seconds, 10)))
    with tempfile.TemporaryDirectory() as folder:
        bodies = infer_bodies(args.model, Path(folder))
        path = f"/v2/models/{_model_name(args.model)}/infer"
        one, headers_one = bodies["one"]
        if cases & {"b", "b0", "d", "e"}:
            server = Server(args.model)
            if "b" in cases:
                row = loaded(server, server.url + path, 64, args.seconds, 1, body=one, headers=headers_one)
                row["mean_batch_images"] = _batch_mean(server.metrics())  # b runs first on this server
                report({"case": "b", "what": "V2 infer, 1 image, 64 clients", **row})
                capacity = row["requests_per_s"]
            if "b0" in cases:
                report({"case": "b0", "what": "GET /v2/health/live, 64 clients: HTTP alone, no model",
                        **loaded(server, f"{server.url}/v2/health/live", 64, args.seconds, 0)})
            if "d" in cases:
                report({"case": "d", "what": "/generate PNG, 64 clients",
                        **loaded(server, f"{server.url}/generate?label=5&seed=0", 64, args.seconds, 1)})
            if "e" in cases:
                for key, what in (("many_binary", "V2 infer, 64 images (binary tensors), 16 clients"),
                                  ("many_json", "V2 infer, 64 images (JSON tensors), 16 clients")):
                    body, headers = bodies[key]
                    report({"case": "e", "what": what,
                            **loaded(server, server.url + path, 16, args.seconds, 64, body=body, headers=headers)})
            results["mean_batch_images_b_to_e"] = _batch_mean(server.metrics())
            server.stop()

        if "c" in cases:
            unbatched = Server(args.model, "--max-batch", "1")
            report({"case": "c", "what": "V2 infer, 1 image, 64 clients, --max-batch 1",
                    **loaded(unbatched, unbatched.url + path, 64, args.seconds, 1, body=one, headers=headers_one)})
            unbatched.stop()

        if "overload" in cases:
            queue = 64
            overloaded = Server(args.model, "--max-queue", str(queue), "--max-images", "1")
            row = loaded(overloaded, overloaded.url + path, 10 * queue, args.overload_seconds, 1,
                         body=one, headers=headers_one)
            row.update(peak_rss_mib=overloaded.memory_kib("VmHWM") / 1024, still_ready=overloaded._ready(),
                       only_200_and_503=set(row["statuses"]) <= {200, 503}, exit_code=overloaded.stop())
            report({"case": "overload", "what": f"{10 * queue} clients, queue of {queue} images", **row})

        if "soak" not in cases:
            _finish(args, results)
            return
        soaked = Server(args.model)
        url = soaked.url + path
        clients = 16
        warm = loaded(soaked, url, clients, min(10.0, args.soak_seconds / 10), 1, body=one, headers=headers_one,
                      rate=capacity / 2 / clients)
        rss_start = soaked.memory_kib("VmRSS")
        row = loaded(soaked, url, clients, args.soak_seconds, 1, body=one, headers=headers_one, rate=capacity / 2 / clients)
        rss_end = soaked.memory_kib("VmRSS")
        row.update(rss_start_mib=rss_start / 1024, rss_end_mib=rss_end / 1024, rss_growth=rss_end / rss_start - 1,
                   target_requests_per_s=capacity / 2, warm_up_statuses=warm["statuses"], exit_code=soaked.stop())
        report({"case": "soak", "what": f"{args.soak_seconds:g} s at half of (b)", **row})
    _finish(args, results)


def _finish(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """Print the share of (a) that (b) reached, when both ran; write the JSON if asked."""
    rates = {row["case"]: row["images_per_s"] for row in results["cases"] if row["case"] in ("a", "b")}
    if len(rates) == 2:
        results["b_share_of_a"] = rates["b"] / rates["a"]
        print(f"(b) reached {results['b_share_of_a']:.1%} of (a)", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


def _model_name(model: Path | None) -> str:
    from cgan_runtime.default_model import default_model_path

    return (model or default_model_path()).stem


def _batch_mean(metrics: str) -> float:
    values = dict(re.findall(r"^(cgan_batch_images_(?:sum|count)) ([\d.e+]+)$", metrics, re.M))
    return float(values["cgan_batch_images_sum"]) / float(values["cgan_batch_images_count"])


if __name__ == "__main__":
    main()
