"""The demo page in headless Chromium: time to the first grid, and 100 digits per call.

    python bench/browser.py [--model URL] [--visits 5] [--json out.json]

Serves the repository root on 127.0.0.1 as the README does, opens web/index.html in
Debian's chromium (Playwright, executable_path) and reads the page's own clock
(performance.now(), ms since navigation started). Each visit is a fresh browser
context, so nothing is cached: a first visit. docs/performance.md ("Browser")
explains the numbers. Needs `npm ci` in web/ and the `test` extra (playwright).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
COUNT = 100  # the "100 digits"

# Runs in the page: generate COUNT digits (every label, round robin) `calls` times after a warm-up.
TIME_GENERATE = """async ([count, calls]) => {
    const generator = window.cganDemo.generator;
    const labels = Array.from({ length: count }, (_, i) => i % generator.spec.num_classes);
    const { toImageData } = await import('./cgan-edge.js');
    const raw = [], images = [];
    for (let i = 0; i < 3; i++) await generator.generate(labels, i);
    for (let i = 0; i < calls; i++) {
        let start = performance.now();
        const output = await generator.generateRaw(labels, i);
        raw.push(performance.now() - start);
        start = performance.now();
        toImageData(output, generator.spec.output_range);
        images.push(performance.now() - start);
    }
    return { raw, images };
}"""

# The page's milestones, from its own clock and the resource timings.
MILESTONES = """(model) => {
    const entry = (suffix) => performance.getEntriesByType('resource').find((e) => e.name.endsWith(suffix));
    return {
        model_fetched_ms: entry(model.split('/').pop())?.responseEnd,
        wasm_fetched_ms: entry('.wasm')?.responseEnd,
        model_ready_ms: window.cganDemo.loadedMs,
        first_grid_ms: window.cganDemo.firstGridMs,
        first_grid_generate_ms: window.cganDemo.lastGenerateMs,
    };
}"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass


def serve(root: Path) -> tuple[ThreadingHTTPServer, str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def measure(model: str, visits: int, calls: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("browser benchmark: no chromium executable (apt-get install chromium)")
    httpd, base = serve(REPO)
    url = f"{base}/web/index.html?model={model}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium)
            first_visits = []
            for _ in range(visits):
                context = browser.new_context()  # its own empty cache: a first visit
                first_visits.append(_visit(context, url, model))
                context.close()
            # Return visits share one context, so its HTTP cache and compiled-wasm cache.
            context = browser.new_context()
            return_visits = [_visit(context, url, model) for _ in range(visits + 1)][1:]
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("body[data-state=ready]", timeout=30_000)
            timings = page.evaluate(TIME_GENERATE, [COUNT, calls])
            version = browser.version
            browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    return {
        "browser": f"chromium {version}",
        "model": model,
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "first_visits": first_visits,
        "return_visits": return_visits,
        "first_visit_first_grid_ms": _summary([v["first_grid_ms"] for v in first_visits]),
        "return_visit_first_grid_ms": _summary([v["first_grid_ms"] for v in return_visits]),
        "generate_100_raw_ms": _summary(timings["raw"]),
        "generate_100_to_imagedata_ms": _summary(timings["images"]),
    }


def _visit(context: Any, url: str, model: str) -> dict[str, float]:
    """Open the page in `context`, wait for its first grid, and read its milestones."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    milestones = page.evaluate(MILESTONES, model)
    page.close()
    return milestones


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "best": round(min(values), 2),
        "worst": round(max(values), 2),
        "n": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="/assets/generator.onnx", help="Model URL path under the repo root")
    parser.add_argument("--visits", type=int, default=5, help="Cold page loads to time")
    parser.add_argument("--calls", type=int, default=50, help="Timed 100-digit calls")
    parser.add_argument("--json", type=Path, help="Also write every number here")
    args = parser.parse_args()
    result = measure(args.model, args.visits, args.calls)
    print(f"{result['browser']}, model {result['model']}, load average {result['load_avg_1min']}")
    print("| measure | median | best | worst | n |\n| --- | ---: | ---: | ---: | ---: |")
    keys = ("first_visit_first_grid_ms", "return_visit_first_grid_ms", "generate_100_raw_ms", "generate_100_to_imagedata_ms")
    for key in keys:
        s = result[key]
        print(f"| {key} | {s['median']} | {s['best']} | {s['worst']} | {s['n']} |")
    for kind in ("first_visits", "return_visits"):
        for visit in result[kind]:
            print(f"{kind[:-1]}:", ", ".join(f"{k} {v:.0f}" for k, v in visit.items() if v is not None))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
