#!/usr/bin/env bash
# Here (no GPU needed): pack what the device run needs into ignored folders small enough
# for one device call each (a call carries at most 64 MiB, the working tree included).
#   .gpu/p1 ... .gpu/pN   the onnxruntime-gpu wheel for the device's Python 3.12, split
#   .gpu/data             MNIST, gzipped (the device cannot reach ../shared)
# Usage, from the repo root: bash bench/gpu/pack.sh [PART_MIB]
set -euo pipefail
cd "$(dirname "$0")/../.."
part_mib=${1:-48}
version=$(sed -n 's/^ORT_GPU_VERSION=//p' bench/gpu/device.sh)
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>"$(git rev-parse --git-path info/exclude)"
rm -rf .gpu && mkdir -p .gpu/wheel .gpu/data/MNIST/raw
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    -d .gpu/wheel "onnxruntime-gpu==$version"
wheel=$(ls .gpu/wheel/*.whl)
split -b "${part_mib}M" -d -a 1 "$wheel" .gpu/wheel/part.
i=0
for part in .gpu/wheel/part.*; do
    i=$((i + 1)); mkdir -p ".gpu/p$i"; mv "$part" ".gpu/p$i/"
done
(cd .gpu/wheel && sha256sum "$(basename "$wheel")") >.gpu/p1/SHA256SUMS
echo "$(basename "$wheel")" >.gpu/p1/WHEEL
rm "$wheel"
for f in ../shared/data/MNIST/raw/*-ubyte; do gzip -c "$f" >".gpu/data/MNIST/raw/$(basename "$f").gz"; done
du -sh .gpu/* | sed 's/^/packed /'
echo "carry each .gpu/pK in its own call (back to back, the machine stays warm 30 s), then .gpu/data with the run"
