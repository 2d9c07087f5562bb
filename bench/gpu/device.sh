#!/usr/bin/env bash
# On the lent GPU machine, in the repo root, after every .gpu/pK and .gpu/data have been carried:
# join and install onnxruntime-gpu beside the image's torch, then run the measurements.
# Results: $OUT/gpu.json and $OUT/gpu.log (the tables for docs/performance.md).
set -uo pipefail
ORT_GPU_VERSION=1.31.1
out=${OUT:-/tmp/gpu-out}; mkdir -p "$out"
exec > >(tee "$out/gpu.log") 2>&1
wheel=/tmp/$(cat .gpu/p1/WHEEL)
cat .gpu/p*/part.* >"$wheel"
(cd /tmp && sha256sum -c "$OLDPWD/.gpu/p1/SHA256SUMS") || { echo "wheel parts do not join to the packed wheel"; exit 1; }
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/ort "$wheel" || exit 1
for f in .gpu/data/MNIST/raw/*.gz; do mkdir -p /tmp/data/MNIST/raw; gunzip -c "$f" >"/tmp/data/MNIST/raw/$(basename "$f" .gz)"; done
# The image's CPU onnxruntime would shadow the GPU build: ours goes first on the path.
export PYTHONPATH=/tmp/ort:$PWD/runtime:$PWD/train:$PWD/export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import onnxruntime as o, torch; print('onnxruntime', o.__version__, o.get_available_providers()); print('torch', torch.__version__, torch.cuda.get_device_name())"
python3 bench/gpu/measure.py --data-dir /tmp/data --json "$out/gpu.json"
