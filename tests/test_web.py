"""The browser module and demo page (web/), driven in a real headless Chromium.

Needs Debian's chromium, Playwright (the `test` extra) and `npm ci` in web/. Without
them the tests skip and say what is missing, unless CGAN_EDGE_REQUIRE_BROWSER=1
(as in .ci/run), where a missing piece fails instead.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from cgan_runtime import Generator
from cgan_runtime.images import make_grid
from cgan_runtime.mixing import morph_noise, morph_weights
from support import NUMBERED_MODEL
from test_noise import HASH_VECTORS, NOISE_TOLERANCE, NOISE_VECTORS

ROOT = Path(__file__).resolve().parents[1]
ORT_WEB = ROOT / "web" / "node_modules" / "onnxruntime-web" / "dist"
BAD_MODELS = sorted((ROOT / "tests" / "fixtures" / "bad").glob("*.onnx"))
# The bar: the browser's images match the Python runtime's within 1e-4 on a [0, 1] scale.
TOLERANCE = 1e-4


def _browser_or_reason():
    """The chromium executable, or the reason the browser tests cannot run here."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None, "playwright is not installed (pip install -e '.[test]')"
    chromium = shutil.which("chromium")
    if chromium is None:
        return None, "no chromium executable (apt-get install chromium)"
    if not ORT_WEB.is_dir():
        return None, "web/node_modules is missing (run npm ci in web/)"
    return chromium, None


@pytest.fixture(scope="module")
def server():
    """The repository root over HTTP on 127.0.0.1, as the README serves it."""
    handler = functools.partial(_QuietHandler, directory=str(ROOT))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def browser():
    chromium, reason = _browser_or_reason()
    if reason is not None:
        if os.environ.get("CGAN_EDGE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CGAN_EDGE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        yield browser
        browser.close()


def open_page(browser, server, query=""):
    """The demo page once it has drawn its first grid or shown an error."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server}/web/index.html{query}")
    try:
        page.wait_for_selector("body[data-state=ready], body[data-state=error]", timeout=20_000)
    except Exception:
        raise AssertionError(f"the page never became ready; its errors: {errors}") from None
    return page


@pytest.fixture(scope="module")
def page(browser, server):
    page = open_page(browser, server)
    assert page.get_attribute("body", "data-state") == "ready", page.inner_text("#status")
    yield page
    page.close()


@pytest.fixture(scope="module")
def python_generator():
    return Generator(provider="cpu", threads=1)


def test_the_browser_draws_the_python_runtimes_images(page, python_generator):
    requests = [([5], 0), ([0, 3, 0, 9], 12345), (list(range(10)), 2**40 + 7), (["7", 2], 4)]
    raws = page.evaluate(
        """async (requests) => {
            const out = [];
            for (const [labels, seed] of requests) {
                const { data, dims } = await window.cganDemo.generator.generateRaw(labels, seed);
                out.push({ data: Array.from(data), dims });
            }
            return out;
        }""",
        requests,
    )
    low, high = python_generator.spec.output_range
    for (labels, seed), raw in zip(requests, raws, strict=True):
        indices = [python_generator.class_names.index(x) if isinstance(x, str) else x for x in labels]
        expected = python_generator.generate_raw(indices, seed=seed)
        browser_images = np.array(raw["data"], dtype=np.float32).reshape(raw["dims"])
        assert browser_images.shape == expected.shape
        difference = np.abs(browser_images - expected).max() / (high - low)
        assert difference < TOLERANCE, f"labels {labels}, seed {seed}: images differ by {difference:.2e}"


def test_the_browser_mixes_and_morphs_as_the_python_runtime_does(page, python_generator):
    assert python_generator.can_mix and page.evaluate("window.cganDemo.generator.canMix")
    mixes = [{"3": 0.7, "8": 0.3}, {"5": 1.0}, {"1": 0.5, "7": 0.5}]
    raws = page.evaluate(
        """async (mixes) => {
            const generator = window.cganDemo.generator;
            const pack = ({ data, dims }) => ({ data: Array.from(data), dims });
            return [pack(await generator.generateMixedRaw(mixes, 11)), pack(await generator.generateMorphRaw('3', '8', 6, 5))];
        }""",
        mixes,
    )
    morph_raw = python_generator.generate_mixed_raw(
        morph_weights(3, 8, 6, python_generator.num_classes), noise=morph_noise(3, python_generator.nz, 6, seed=5)
    )
    expected = [python_generator.generate_mixed_raw(mixes, seed=11), morph_raw]
    low, high = python_generator.spec.output_range
    for raw, want in zip(raws, expected, strict=True):
        got = np.array(raw["data"], dtype=np.float32).reshape(raw["dims"])
        assert got.shape == want.shape
        assert np.abs(got - want).max() / (high - low) < TOLERANCE
    # The page shows the morph strip for a model that can mix: frames (10) across.
    assert page.evaluate("document.querySelector('#morph').width") == 10 * (28 + 2) + 2


def test_the_page_shows_the_chosen_label_count_and_seed(page, python_generator):
    page.select_option("#label", "3")
    page.fill("#count", "4")
    page.fill("#seed", "42")  # fill fires `input`, and the page redraws on each
    page.wait_for_function("/ 4 images · seed 42 /.test(document.querySelector('#status').textContent)")
    shown = page.evaluate(
        """() => {
            const canvas = document.querySelector('#grid');
            const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
            return { data: Array.from(data), width: canvas.width, height: canvas.height };
        }"""
    )
    expected = make_grid(python_generator.generate([3] * 4, seed=42), cols=4)
    grey = np.array(shown["data"], dtype=np.int16).reshape(shown["height"], shown["width"], 4)[..., 0]
    assert grey.shape == expected.shape
    # uint8 rounding may differ by one level where a pixel sits on a rounding boundary.
    assert np.abs(grey - expected).max() <= 1


@pytest.mark.parametrize(
    "control, value, message",
    [
        ("#seed", "-3", "seed must be an integer in [0, 2^53), got -3"),
        ("#count", "0", "count must be a whole number from 1 to 100, got '0'"),
        # The input's max is not enforced on a typed value: 100000 once ran for a minute and crashed onnxruntime.
        ("#count", "100000", "count must be a whole number from 1 to 100, got '100000'"),
        ("#frames", "5000", "frames must be a whole number from 2 to 30"),
    ],
)
def test_a_bad_control_value_is_said_on_the_page_instead_of_stale_digits(page, control, value, message):
    good = page.input_value(control)
    page.fill(control, value)
    page.wait_for_selector("body[data-state=error]")
    assert message in page.inner_text("#status")
    assert page.evaluate("document.querySelector('#grid').width") == 0
    page.fill(control, good)
    page.wait_for_selector("body[data-state=ready]")
    assert page.evaluate("document.querySelector('#grid').width") > 0


def test_the_module_loads_a_model_from_its_bytes_and_refuses_bad_labels(page):
    result = page.evaluate(
        """async () => {
            const { Generator } = await import('./cgan-edge.js');
            const response = await fetch('/tests/fixtures/tiny_generator.onnx');
            const generator = await Generator.load(new Uint8Array(await response.arrayBuffer()));
            const refusals = [];
            for (const labels of [['cat'], [10], [1.5], []]) {
                try { await generator.generateRaw(labels, 0); } catch (error) { refusals.push(error.message); }
            }
            return { arch: generator.spec.arch, name: generator.name, refusals };
        }"""
    )
    assert result["arch"] == "tiny-fixture"
    assert result["name"] == "the model"
    assert result["refusals"] == [
        "no class named 'cat' (classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)",
        "label 10 is out of range: expected an integer in [0, 10)",
        "label 1.5 is out of range: expected an integer in [0, 10)",
        "expected a non-empty array of labels",
    ]


def test_the_browser_noise_follows_the_published_vectors(page):
    hashes, noises = page.evaluate(
        """async ([hashKeys, noiseRequests]) => {
            const noise = await import('./noise.js');
            return [
                hashKeys.map(([seed, label, j, c]) => noise.hashWords(seed, label, j, c)),
                noiseRequests.map(([labels, nz, seed]) => Array.from(noise.noiseForLabels(labels, nz, seed))),
            ];
        }""",
        [[key for key, _ in HASH_VECTORS], [request for request, _ in NOISE_VECTORS]],
    )
    assert hashes == [value for _, value in HASH_VECTORS]
    for got, (_, expected) in zip(noises, NOISE_VECTORS, strict=True):
        np.testing.assert_allclose(got, np.ravel(expected), rtol=0, atol=NOISE_TOLERANCE)


@pytest.fixture(scope="module")
def refusing_page(browser, server):
    """A page showing the tiny fixture model's digits, whose model box then loads each broken file in turn."""
    page = open_page(browser, server, "?model=/tests/fixtures/tiny_generator.onnx")
    assert page.get_attribute("body", "data-state") == "ready", page.inner_text("#status")
    assert page.evaluate("document.querySelector('#grid').width") > 0
    yield page
    page.close()


def load_on_page(page, url: str) -> str:
    """Type `url` into the page's model box, press load, and return the status once it is settled."""
    page.fill("#model", url)
    page.click("#load")
    page.wait_for_function(
        "([url]) => document.body.dataset.state !== 'loading' && document.querySelector('#status').textContent.includes(url)",
        arg=[url],
    )
    return page.inner_text("#status")


def test_a_file_that_is_not_onnx_is_refused_on_the_page(refusing_page):
    assert "README.md is not a loadable ONNX model" in load_on_page(refusing_page, "/README.md")
    assert refusing_page.get_attribute("body", "data-state") == "error"


def test_a_missing_file_is_refused_on_the_page(refusing_page):
    status = load_on_page(refusing_page, "/no/such/model.onnx")
    assert "cannot fetch" in status and "404" in status
    assert refusing_page.get_attribute("body", "data-state") == "error"


@pytest.mark.parametrize("model", BAD_MODELS, ids=lambda path: path.stem)
def test_a_model_that_breaks_the_contract_is_refused_on_the_page(refusing_page, model):
    with pytest.raises(ValueError, match="breaks the cgan-edge generator contract") as refused:
        Generator(model)
    # The browser says what the Python runtime says (type names and onnxruntime's own
    # messages are each runtime's own).
    reason = str(refused.value).split("contract: ", 1)[1].split(", got")[0].split(" failed: ")[0]
    status = load_on_page(refusing_page, f"/{model.relative_to(ROOT).as_posix()}")
    assert refusing_page.get_attribute("body", "data-state") == "error"
    assert "breaks the cgan-edge generator contract" in status
    assert reason in status
    assert refusing_page.evaluate("document.querySelector('#grid').width") == 0  # no stale digits under the error


def test_a_request_too_large_for_the_page_is_refused_before_it_runs(page):
    """5,000,000 labels or a 3,000,000-frame morph once ran for up to 106 s and ended in onnxruntime's
    "memory access out of bounds" or "std::bad_alloc"."""
    refusals = page.evaluate(
        """async () => {
            const generator = window.cganDemo.generator;
            const refusals = [];
            const attempts = [
                () => generator.generateRaw(new Array(5_000_000).fill(0), 0),
                () => generator.generateMorphRaw(0, 1, 3_000_000, 0),
                () => generator.generateMixedRaw(new Array(1_000_000).fill({ 3: 1 }), 0),
            ];
            for (const attempt of attempts) {
                try { await attempt(); refusals.push(null); } catch (error) { refusals.push(`${error.name}: ${error.message}`); }
            }
            return refusals;
        }"""
    )
    for refusal in refusals:
        assert refusal is not None and refusal.startswith("RangeError: ")
        assert "more than the 1024.0 MiB one request may use" in refusal


def test_a_class_named_with_a_number_is_chosen_by_name_in_the_browser_as_in_python(page):
    """Classes 0..10 sort as 0, 1, 10, 2, ...: "2" and {2: w} name the class "2" (index 3); the number 2 is index 2."""
    python = Generator(NUMBERED_MODEL, provider="cpu", threads=1)
    raws = page.evaluate(
        """async () => {
            const { Generator } = await import('./cgan-edge.js');
            const generator = await Generator.load('/tests/fixtures/numbered_classes.onnx');
            const pack = ({ data, dims }) => ({ data: Array.from(data), dims });
            return [
                pack(await generator.generateRaw(["2", 2], 7)),
                pack(await generator.generateMixedRaw([{ 2: 1 }], 7)),
            ];
        }"""
    )
    expected = [python.generate_raw(["2", 2], seed=7), python.generate_mixed_raw({"2": 1.0}, seed=7)]
    for raw, want in zip(raws, expected, strict=True):
        got = np.array(raw["data"], dtype=np.float32).reshape(raw["dims"])
        assert np.abs(got - want).max() < TOLERANCE * 2
    np.testing.assert_array_equal(python.generate_raw(["2"], seed=7), python.generate_raw([3], seed=7))
