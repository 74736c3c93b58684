#!/usr/bin/env bash
# Chapter 7 at the paper's scale on one CUDA GPU: 6 noise levels x 10 runs x (VGG 8+3 teacher,
# VGG 2+3 hard and soft students; plus the chapter's T = 4 student at noise 0.10 and 0.20),
# full width, all 9,600 training images, at most 100 epochs with patience 20.
#
#   KDLIB_DATA=/path/to/data benchmarks/gpu_paper_profile.sh OUT_DIR [--compile] [--group N]
#   cp OUT_DIR/deep/*.json results/deep/      # then re-execute book/07_deep_networks.ipynb
#
# All 60 teachers train together as one grouped net, then all 140 students (kdlib.grouped):
# data resident on the GPU, bf16 autocast, channels_last, fused Adam, one host synchronisation
# per epoch. --compile adds torch.compile; --group N trains at most N nets at a time (less
# memory). Target: under 10 minutes on an H200. Not yet timed on a GPU (none was available
# when this script was written); the wall time is printed at the end.
#   benchmarks/gpu_paper_profile.sh OUT_DIR --dry-run   # the tiny 'smoke' profile on the CPU
set -euo pipefail
if [ $# -lt 1 ] || [[ "$1" == -* ]]; then
  echo "usage: $0 OUT_DIR [--compile] [--group N] [--dry-run]" >&2
  exit 2
fi
OUT="$1"; shift
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$HERE/.venv/bin/python}"
: "${KDLIB_DATA:?set KDLIB_DATA to the folder holding CIFAR-10 (see README, Data)}"
export KDLIB_DATA
DEVICE=cuda
for a in "$@"; do [ "$a" = "--dry-run" ] && DEVICE=cpu; done
if [ "$DEVICE" = cuda ]; then
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch')"
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
fi
cd "$HERE"
exec "$PY" -m kdlib.grouped --profile paper --device "$DEVICE" --out "$OUT" "$@"
