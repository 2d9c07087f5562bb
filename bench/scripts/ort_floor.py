"""The floor for `cgan-gen --label L --seed S -o OUT --model M`: the same PNG from bare onnxruntime.

Usage: python ort_floor.py MODEL LABEL SEED OUT. Deliberately package-free, so it costs only
what any onnxruntime app must pay; the noise follows the runtime's rule (one stream per
(seed, label)), so the image must equal cgan-gen's, which the benchmark checks.
"""

import sys

import numpy as np
import onnxruntime
from PIL import Image

model, label, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
noise = np.random.default_rng([seed, label]).standard_normal((1, session.get_inputs()[0].shape[1]), dtype=np.float32)
image = session.run(None, {"noise": noise, "label": np.array([label], dtype=np.int64)})[0]
Image.fromarray(np.clip(np.rint((image[0, 0] + 1) * 127.5), 0, 255).astype(np.uint8)).save(out)
