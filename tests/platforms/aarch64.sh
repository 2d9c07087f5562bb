#!/usr/bin/env bash
# The torch-free runtime on 64-bit ARM, under qemu-user emulation.
#
# Usage: tests/platforms/aarch64.sh [X86_PYTHON]   (from .ci/run; X86_PYTHON has the runtime installed,
#                                                   default .venv-runtime/bin/python)
# Builds an arm64 root from Debian's packages (apt with a private state folder: the machine's own
# dpkg and apt setup are left as they were), installs PyPI's aarch64 wheels of the same versions as
# the x86_64 environment, then on aarch64: runs the runtime's tests, draws images with cgan-gen and
# loads every contract fixture. The images must match x86_64's within MAX_DIFF of 255 and the
# fixtures must load or be refused with the same lines. Any failure fails the script.
set -euo pipefail
cd "$(dirname "$0")/../.."
host_python=${1:-.venv-runtime/bin/python}
host_python=$(cd "$(dirname "$host_python")" && pwd)/$(basename "$host_python")  # absolute, links kept (a venv)
MAX_DIFF=1   # byte-identical so far; onnxruntime's ARM kernels may round a last float bit differently
# A Cortex-A72 (Raspberry Pi 4): the CPU qemu emulates and the one /proc/cpuinfo describes agree.
export QEMU_CPU=cortex-a72

command -v qemu-aarch64-static >/dev/null || { echo "aarch64: qemu-aarch64-static is missing (apt-get install qemu-user-static)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root site=$work/site
SECONDS=0

arm64_python() {  # an arm64 Python 3.11 root from Debian's packages
    local apt_dir=$work/apt i
    mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial" "$work/debs" "$root"
    touch "$apt_dir/status"
    local apt_opts=(-o APT::Architecture=arm64 -o APT::Architectures=arm64 -o "Dir::State=$apt_dir/state"
                    -o "Dir::State::status=$apt_dir/status" -o "Dir::Cache=$apt_dir/cache"
                    -o APT::Sandbox::User=root)  # the private folders are mktemp's, which _apt cannot enter
    apt-get -qq "${apt_opts[@]}" update
    local packages
    packages=$(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances python3.11 libstdc++6 | grep -v '^[ <]' | sort -u)
    (cd "$work/debs" && apt-get -qq "${apt_opts[@]}" download $packages)
    for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
    test -x "$root/usr/bin/python3.11"
    # onnxruntime reads the CPU's description at import (cpuinfo); qemu-user passes the host's x86
    # /proc/cpuinfo through unless the root has its own (-L looks there first).
    mkdir -p "$root/proc"
    for ((i = 0; i < $(nproc); i++)); do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$i"
    done > "$root/proc/cpuinfo"
}

aarch64_wheels() {  # PyPI's aarch64 wheels at the x86_64 environment's versions, and this package
    local pins
    pins=$("$host_python" - <<'PY'
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in ["onnxruntime", "numpy", "pillow", "typer", "pytest", "hypothesis"]))
PY
)
    "$host_python" -m pip wheel -q --no-cache-dir --no-deps -w "$work/wheels" .
    "$host_python" -m pip install -q --no-cache-dir --target "$site" --only-binary=:all: --python-version 3.11 \
        --implementation cp --abi cp311 --abi abi3 --abi none --platform manylinux_2_28_aarch64 \
        --platform manylinux_2_27_aarch64 --platform manylinux2014_aarch64 --platform any \
        "$work"/wheels/cgan_edge-*.whl $pins
}

echo "-- arm64 Python from Debian's packages, and PyPI's aarch64 wheels (at once)"
aarch64_wheels &
wheels=$!
arm64_python
wait "$wheels"
mkdir -p "$work/bin"
cat > "$work/bin/python" <<SH
#!/bin/sh
# argv[0] set to this wrapper, so sys.executable re-enters qemu when a test starts a subprocess.
export PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1
exec qemu-aarch64-static -L "$root" -0 "$work/bin/python" "$root/usr/bin/python3.11" "\$@"
SH
cat > "$work/bin/cgan-gen" <<SH
#!/bin/sh
exec "$work/bin/python" -c 'import sys; sys.argv[0] = "cgan-gen"; from cgan_runtime.commands.launch import gen; gen()' "\$@"
SH
chmod +x "$work/bin/python" "$work/bin/cgan-gen"
arm=$work/bin/python
"$arm" -c 'import platform, sys, onnxruntime, numpy
print("Python", platform.python_version(), "on", platform.machine(), "- onnxruntime", onnxruntime.__version__, "numpy", numpy.__version__)
sys.exit(platform.machine() != "aarch64")'
echo "   ready after ${SECONDS}s"

echo "-- the runtime's tests on aarch64"
step=$SECONDS
"$arm" -m pytest -q -p no:cacheprovider tests/test_noise.py tests/test_generator_loading.py \
    tests/test_generator.py tests/test_mixing.py tests/test_images.py tests/test_default_model.py

echo "   tests took $((SECONDS - step))s"
echo "-- cgan-gen on aarch64 and x86_64, the shipped model"
draw() {  # draw CGAN_GEN OUT_DIR: (seed, label) pairs in three calls (each costs an emulated start-up)
    mkdir -p "$2"
    "$1" --label 7 --seed 3 -o "$2/seven.png"
    "$1" --label 0,1,2,3,4,5,6,7,8,9 -n 2 --seed 9007199254740991 -o "$2/seed_max.png"   # seed_max_L_J.png
    "$1" --all-labels -n 8 --grid --seed 0 -o "$2/grid.png"
}
draw "$(dirname "$host_python")/cgan-gen" "$work/x86_64"
draw "$work/bin/cgan-gen" "$work/aarch64"
"$host_python" tests/platforms/same_images.py "$work/x86_64" "$work/aarch64" "$MAX_DIFF"

echo "-- Generator on each contract file: the same lines on both"
"$host_python" tests/platforms/loads.py > "$work/loads_x86_64.txt"
"$arm" tests/platforms/loads.py > "$work/loads_aarch64.txt"
cat "$work/loads_aarch64.txt"
diff -u "$work/loads_x86_64.txt" "$work/loads_aarch64.txt"
echo "aarch64: all checks passed in ${SECONDS}s"
