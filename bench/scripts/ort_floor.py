"""The floor for `cgan-gen --label L --seed S -o OUT --model M`: the same PNG from bare onnxruntime.

Usage: python ort_floor.py MODEL LABEL SEED OUT. Deliberately package-free, so it costs only
what any onnxruntime app must pay. It draws the noise by the contract's portable rule
(MurmurHash3 of seed, label, occurrence and counter, then Box-Muller), written out here as any
app in any language would, so the image must equal cgan-gen's, which the benchmark checks.
"""

import sys

import numpy as np
import onnxruntime
from PIL import Image


def murmur(words: list[int], counters: np.ndarray) -> np.ndarray:
    """MurmurHash3_x86_32 (hash seed 0) of the words followed by each counter, as uint32."""
    def rotl(x, r):
        return (x << np.uint32(r)) | (x >> np.uint32(32 - r))

    def absorb(h, word):
        k = rotl(word * np.uint32(0xCC9E2D51), 15) * np.uint32(0x1B873593)
        return rotl(h ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)

    h = np.zeros(1, dtype=np.uint32)
    for word in words:
        h = absorb(h, np.array([word], dtype=np.uint32))
    h = absorb(h, counters) ^ np.uint32(4 * (len(words) + 1))
    h = (h ^ (h >> np.uint32(16))) * np.uint32(0x85EBCA6B)
    h = (h ^ (h >> np.uint32(13))) * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


model, label, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
nz = session.get_inputs()[0].shape[1]
hashes = murmur([seed & 0xFFFFFFFF, seed >> 32, label, 0], np.arange(2 * nz, dtype=np.uint32))  # occurrence 0
u1, u2 = (hashes[0::2] + 1.0) * 2.0**-32, hashes[1::2] * 2.0**-32
noise = (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)[None, :]
image = session.run(None, {"noise": noise, "label": np.array([label], dtype=np.int64)})[0]
Image.fromarray(np.clip(np.rint((image[0, 0] + 1) * 127.5), 0, 255).astype(np.uint8)).save(out)
