"""Single-precision matrix-multiply speed on this machine: the ceiling generation is measured against.

Two libraries, same threads as the generators: torch's sgemm (what torch
eager runs on) and onnxruntime's own MatMul (what the exported generators run
on). The ceiling is the faster of the two, so no generator can look good by
being compared with a slow GEMM. The same onnxruntime code also times a
chain of MatMuls with a generator's own layer shapes: the best those shapes
allow, before any bias, normalisation or activation is added.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnxruntime
import torch
from onnx import TensorProto, helper, numpy_helper

from cgan_runtime.contract import DEFAULT_OPSET

from .report import markdown_table, number
from .timing import Timing


def torch_sgemm(size: int, threads: int, timing: Timing) -> float:
    """GFLOP/s of torch's float32 [size, size] @ [size, size]."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    seconds = timing.seconds_per_call(lambda: torch.mm(a, b))
    return 2 * size**3 / seconds / 1e9


def ort_matmul_chain(dims: Sequence[int], batch: int, threads: int, timing: Timing) -> float:
    """GFLOP/s of onnxruntime running [batch, dims[0]] through MatMuls of weights dims[i] x dims[i+1].

    Weights are initializers, as in an exported generator, so onnxruntime
    pre-packs them the same way. dims=[n, n] with batch=n is a square GEMM.
    """
    session = onnxruntime.InferenceSession(
        _chain_model(dims).SerializeToString(), sess_options=_options(threads), providers=["CPUExecutionProvider"]
    )
    x = np.random.default_rng(0).standard_normal((batch, dims[0]), dtype=np.float32)
    seconds = timing.seconds_per_call(lambda: session.run(None, {"x": x}))
    flops = 2 * batch * sum(k * n for k, n in itertools.pairwise(dims))
    return flops / seconds / 1e9


def _chain_model(dims: Sequence[int]):
    rng = np.random.default_rng(0)
    weights, nodes, current = [], [], "x"
    for i, (k, n) in enumerate(itertools.pairwise(dims)):
        # Scaled so activations stay O(1) down the chain: no denormals or infs to slow it.
        w = (rng.standard_normal((k, n), dtype=np.float32) / np.sqrt(k)).astype(np.float32)
        weights.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [current, f"w{i}"], [f"h{i}"]))
        current = f"h{i}"
    graph = helper.make_graph(
        nodes,
        "matmul_chain",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", dims[0]])],
        outputs=[helper.make_tensor_value_info(current, TensorProto.FLOAT, ["N", dims[-1]])],
        initializer=weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", DEFAULT_OPSET)])


def _options(threads: int) -> onnxruntime.SessionOptions:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return options


def measure(size: int, threads: int, timing: Timing) -> dict[str, float | int]:
    """Square float32 GEMM of `size` on both libraries; `gflops` is the faster, the ceiling."""
    torch_gflops = torch_sgemm(size, threads, timing)
    ort_gflops = ort_matmul_chain([size, size], size, threads, timing)
    return {
        "size": size,
        "threads": threads,
        "torch_sgemm_gflops": torch_gflops,
        "onnxruntime_matmul_gflops": ort_gflops,
        "gflops": max(torch_gflops, ort_gflops),
    }


def table(result: dict[str, Any]) -> str:
    size, threads = result["size"], result["threads"]
    rows = [
        ["torch sgemm", f"{size}²", threads, number(result["torch_sgemm_gflops"], 1)],
        ["onnxruntime MatMul", f"{size}²", threads, number(result["onnxruntime_matmul_gflops"], 1)],
        ["**ceiling** (the faster)", "", threads, f"**{number(result['gflops'], 1)}**"],
    ]
    return markdown_table(["float32 GEMM", "size", "threads", "GFLOP/s"], rows)
