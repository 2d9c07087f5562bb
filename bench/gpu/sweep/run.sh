#!/usr/bin/env bash
# On the lent GPU, from the repo root: train variants of the conv recipe side by side, then score each
# best.pt and the snapshots of every SNAP_EVERY epochs with cgan-eval; what comes back is under $OUT.
# The run behind the conv model shipped before its mode-seeking penalty (assets/README.md):
#   run(carry=[".gpu/data", ".gpu/cache"], command="bash bench/gpu/sweep/run.sh", timeout_s=570)
# with .gpu/data from pack.sh (MNIST gzipped) and .gpu/cache holding the cached MNIST classifier
# ($CGAN_EDGE_CACHE/mnist-classifier-*.pt), so no run trains its own at the same time.
# Settings from the environment (the defaults are the device run's): EPOCHS, SNAP_EVERY, TRAIN_DEADLINE (s),
# EVAL_DEADLINE (s), EXTRA (more cgan-train flags, smoke runs), EVAL_ARGS; DATA and RUNS (scratch folders,
# /tmp/sweep-data and /tmp/sweep-runs) and OUT (what comes back; /tmp/sweep-out off the device).
set -uo pipefail
here=$PWD
out=${OUT:-/tmp/sweep-out}; mkdir -p "$out"
exec > >(tee "$out/sweep.log") 2>&1
t0=$(date +%s)
export EVAL_ARGS=${EVAL_ARGS:-}
EPOCHS=${EPOCHS:-40}; TRAIN_DEADLINE=${TRAIN_DEADLINE:-410}; EVAL_DEADLINE=${EVAL_DEADLINE:-90}
data=${DATA:-/tmp/sweep-data}; runs=${RUNS:-/tmp/sweep-runs}; rm -rf "$runs"; mkdir -p "$runs" "$data/MNIST/raw"
for f in .gpu/data/MNIST/raw/*.gz; do gunzip -c "$f" >"$data/MNIST/raw/$(basename "$f" .gz)"; done
export PYTHONPATH=$here/runtime:$here/train:$here/export PYTHONUNBUFFERED=1 CGAN_EDGE_CACHE=/tmp/sweep-cache OMP_NUM_THREADS=2
mkdir -p "$CGAN_EDGE_CACHE" && cp .gpu/cache/*.pt "$CGAN_EDGE_CACHE/"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
python3 -c "import torch, torchvision; print('torch', torch.__version__, torchvision.__version__, torch.cuda.is_available())"
declare -A variants=(
  [base]="--diversity 0"
  [div1]="--diversity 1"
  [cw64]="--critic-width 64 --diversity 0"
  [cw64div1]="--critic-width 64 --diversity 1"
)
pids=()
for name in "${!variants[@]}"; do
  python3 bench/gpu/sweep/train.py --recipe conv --epochs "$EPOCHS" ${variants[$name]} ${EXTRA:-} \
    --data-dir "$data" --no-download -o "$runs/$name" >"$runs/$name.log" 2>&1 &
  pids+=($!)
done
while (( $(date +%s) - t0 < TRAIN_DEADLINE )); do
  alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  (( alive )) || break
  sleep 5
done
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait "${pids[@]}"
echo "training ended at $(( $(date +%s) - t0 )) s"
for name in "${!variants[@]}"; do mv "$runs/$name.log" "$runs/$name/train.log"; echo "== $name"; grep -E "^epoch" "$runs/$name/train.log" | tail -3; tail -2 "$runs/$name/train.log"; done
# Score: best.pt with Parzen, snapshots without.
jobs=()
for run in "$runs"/*/; do
  [ -f "$run/best.pt" ] && jobs+=("$run/best.pt $run/eval-best.json --parzen")
  for s in "$run"/epoch*.pt; do [ -f "$s" ] && jobs+=("$s $run/eval-$(basename "$s" .pt).json --no-parzen"); done
done
printf '%s\n' "${jobs[@]}" | timeout "$EVAL_DEADLINE" xargs -P 8 -L 1 sh -c \
  'python3 bench/gpu/sweep/evaluate.py "$0" --json "$1" "$2" --data-dir '"$data"' --no-download ${EVAL_ARGS:-} >/dev/null 2>"$1.err" || cat "$1.err"'
echo "scoring ended at $(( $(date +%s) - t0 )) s"
python3 bench/gpu/sweep/collect.py "$runs" "$out"
ls -la "$out"
