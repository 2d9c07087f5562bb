"""The torch way of `cgan-gen --label L --seed S -o OUT`: load the checkpoint, build the generator, save the PNG.

Usage: python torch_generate.py CKPT LABEL SEED OUT. Minimal on purpose (no cgan_train.checkpoint,
whose checks pull in the CLI stack), so torch is measured at its leanest; same noise as the runtime,
so the image must equal cgan-gen's, which the benchmark checks.
"""

import sys

import numpy as np
import torch
from cgan_train.models import build_generator
from PIL import Image

from cgan_runtime.contract import ModelSpec

ckpt_path, label, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
spec = ModelSpec.from_dict(ckpt["spec"])
generator = build_generator(spec)
generator.load_state_dict(ckpt.get("generator_ema") or ckpt["generator"])
noise = np.random.default_rng([seed, label]).standard_normal((1, spec.nz), dtype=np.float32)
with torch.inference_mode():
    image = generator.eval()(torch.from_numpy(noise), torch.tensor([label])).numpy()
Image.fromarray(np.clip(np.rint((image[0, 0] + 1) * 127.5), 0, 255).astype(np.uint8)).save(out)
