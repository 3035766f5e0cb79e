#!/usr/bin/env bash
# The main job on a fresh machine: bootstrap <repo>/.venv, then an end-to-end smoke run of an mmsp
# config: train 2 iterations and test the checkpoint (tools/train.py + tools/test.py), then
# publish it (tools/publish_model.py) and test the published file too.
#
# Data: the real CamVid images in ../shared/data/camvid (or $MMSP_SHARED_DATA/camvid) when
# present, otherwise a tiny generated set in the same layout (mmsp.utils.make_tiny_camvid).
# Usage: bash tools/run_demo.sh            (outputs in work_dirs/demo, or $WORK_DIR)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash "$ROOT/tools/setup_env.sh"

PY="$ROOT/.venv/bin/python"
CONFIG="configs/smoke/fcn_r18-d8_1xb2-2iter_camvid-64x64.py"
WORK="${WORK_DIR:-$ROOT/work_dirs/demo}"
DATA="${MMSP_SHARED_DATA:-$ROOT/../shared/data}/camvid"

step() { printf '\n[run_demo] %s\n' "$*"; }

if [ -d "$DATA/images/train" ] && [ -d "$DATA/labels/train" ]; then
  DATA="$(cd "$DATA" && pwd)"
  step "using the real CamVid images in $DATA"
else
  step "$DATA is absent: generating a tiny CamVid-layout set in $WORK/tiny_camvid"
  DATA="$WORK/tiny_camvid"
  "$PY" -c 'import sys; from mmsp.utils import make_tiny_camvid
make_tiny_camvid(sys.argv[1], {"train": 8, "val": 4})' "$DATA"
fi
OPTS=(--cfg-options "train_dataloader.dataset.data_root=$DATA"
      "val_dataloader.dataset.data_root=$DATA" "test_dataloader.dataset.data_root=$DATA")

step "train 2 iterations: tools/train.py $CONFIG"
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK" "${OPTS[@]}"

step "test the runner checkpoint: tools/test.py $CONFIG $WORK/iter_2.pth"
"$PY" tools/test.py "$CONFIG" "$WORK/iter_2.pth" --work-dir "$WORK" "${OPTS[@]}"

step "publish it (tensors + plain metadata) and test the published file"
PUBLISHED="$("$PY" tools/publish_model.py "$WORK/iter_2.pth" "$WORK/published/smoke.pth" \
  | tail -n 1)"
"$PY" tools/test.py "$CONFIG" "$PUBLISHED" --work-dir "$WORK" "${OPTS[@]}"

step "done: logs, checkpoints and metrics in $WORK"
