#!/usr/bin/env bash
# The main job on a fresh machine: bootstrap <repo>/.venv, then, on real data,
#   1. train an SPFormer-T classifier (16 learned superpixels at 64 px) on the CIFAR-10 subset,
#   2. train a ResNet-18 + superpixel-transformer head on CamVid and report val mIoU and the
#      quality of the superpixels the head learned,
#   3. evaluate the classifier's superpixels zero-shot on BSDS500 val against the 14x14 patch
#      grid and SLIC at the same count,
#   4. draw superpixels (boundaries, mean colour, association heat maps, rotation/occlusion),
#   5. write a summary (work_dirs/demo/SUMMARY.md).
# Every step is a standalone command printed as it runs (configs in configs/demo/).
#
# Data: ../shared/data (or $MMSP_SHARED_DATA). Without CIFAR-10 the classifier trains on
# Fashion-MNIST from Debian's `dataset-fashion-mnist` package (installed when run as root);
# without CamVid a tiny generated set is used; without BSDS500 the zero-shot step is skipped.
# Usage: bash tools/run_demo.sh        (outputs in work_dirs/demo, or $WORK_DIR)
#        MMSP_DEMO_QUICK=1 bash tools/run_demo.sh   (2 iterations and 3 images per step: a check)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash "$ROOT/tools/setup_env.sh"

PY="$ROOT/.venv/bin/python"
WORK="${WORK_DIR:-$ROOT/work_dirs/demo}"
SHARED="${MMSP_SHARED_DATA:-$ROOT/../shared/data}"
QUICK="${MMSP_DEMO_QUICK:-0}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
START=$SECONDS

step() { printf '\n[run_demo %3d min] %s\n' $(((SECONDS - START) / 60)) "$*"; }
run() { printf '  $'; printf ' %q' "$@"; printf '\n'; "$@"; }
set_aside() {  # a rerun never overwrites a run's checkpoints: its work dir is moved aside first
  if compgen -G "$1/*.pth" >/dev/null; then
    local old
    old="$1.previous-$(date +%Y%m%d-%H%M%S)"
    mv "$1" "$old"
    echo "[run_demo] $1 held the checkpoints of an earlier run: moved to $old"
  fi
}
data_root() {  # cfg-options pointing every dataloader at $1
  printf '%s\n' "train_dataloader.dataset.data_root=$1" "val_dataloader.dataset.data_root=$1" \
    "test_dataloader.dataset.data_root=$1"
}

if [ "$QUICK" = 1 ]; then
  SHORT=(train_cfg.max_iters=2 train_cfg.val_interval=2 default_hooks.checkpoint.interval=2
         default_hooks.logger.interval=1)
  CLS_SHORT=(train_dataloader.batch_size=4 val_dataloader.batch_size=4 test_dataloader.batch_size=4)
  IMAGES=3
else
  SHORT=()
  CLS_SHORT=()
  IMAGES=100
fi

# ------------------------------------------------------------------ 1. SPFormer-T classifier
CLS_CFG=configs/demo/spformer-t_1xb64-600it_cifar10-64px.py
CLS_WORK="$WORK/spformer-t_cifar10"
if [ -d "$SHARED/cifar10/train" ]; then
  CLS_DATA="$(cd "$SHARED/cifar10" && pwd)"
  CLS_NAME="CIFAR-10 subset ($CLS_DATA)"
else
  CLS_DATA="$WORK/data/fashion_mnist"
  CLS_NAME="Fashion-MNIST (Debian dataset-fashion-mnist)"
  if [ "$QUICK" != 1 ] && [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$(id -u)" = 0 ] \
     && command -v apt-get >/dev/null; then
    step "$SHARED/cifar10 is absent: installing Fashion-MNIST from Debian's registry"
    { apt-get install -y -q dataset-fashion-mnist \
      || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }; } || true
  fi
  if [ "$QUICK" != 1 ] && [ -d /usr/share/datasets/fashion-mnist ]; then
    PER=(--per-class-train 1000 --per-class-test 300)
    [ "$QUICK" = 1 ] && PER=(--per-class-train 4 --per-class-test 2)
    run "$PY" tools/dataset_converters/prepare_fashion_mnist.py "$CLS_DATA" "${PER[@]}"
  elif [ "$QUICK" = 1 ]; then
    CLS_NAME="a tiny generated image-folder set (no real data available)"
    run "$PY" -m mmsp.utils.tiny_dataset folder "$CLS_DATA" train=4 test=2
  else
    echo "[run_demo] no classification data: neither $SHARED/cifar10 nor Fashion-MNIST" \
         "(apt-get install dataset-fashion-mnist) is available" >&2
    exit 1
  fi
fi
step "1/5 train SPFormer-T on $CLS_NAME"
mapfile -t CLS_ROOT < <(data_root "$CLS_DATA")
set_aside "$CLS_WORK"
run "$PY" tools/train.py "$CLS_CFG" --work-dir "$CLS_WORK" \
  --cfg-options "${CLS_ROOT[@]}" "${SHORT[@]}" "${CLS_SHORT[@]}"
CLS_CKPT="$(cat "$CLS_WORK/last_checkpoint")"
run "$PY" tools/analysis_tools/plot_curve.py "$CLS_WORK" --out "$WORK/curve_spformer-t_cifar10.png" \
  --title "SPFormer-T, $CLS_NAME"

# ------------------------------------------------------------------ 2. SP head on CamVid
SEG_CFG=configs/demo/sp-head_r18_1xb4-300it_camvid-240x320.py
SEG_WORK="$WORK/sp-head_r18_camvid"
if [ -d "$SHARED/camvid/images/train" ]; then
  SEG_DATA="$(cd "$SHARED/camvid" && pwd)"
  SEG_NAME="CamVid ($SEG_DATA)"
else
  SEG_DATA="$WORK/data/tiny_camvid"
  SEG_NAME="a tiny generated CamVid-layout set (CamVid absent)"
  run "$PY" -m mmsp.utils.tiny_dataset camvid "$SEG_DATA" train=8 val=4
fi
step "2/5 train ResNet-18 + SPTransformerHead on $SEG_NAME"
mapfile -t SEG_ROOT < <(data_root "$SEG_DATA")
SEG_OPTS=("${SEG_ROOT[@]}" "${SHORT[@]}" train_dataloader.num_workers=0
          train_dataloader.persistent_workers=False val_dataloader.num_workers=0
          val_dataloader.persistent_workers=False test_dataloader.num_workers=0
          test_dataloader.persistent_workers=False)
set_aside "$SEG_WORK"
run "$PY" tools/train.py "$SEG_CFG" --work-dir "$SEG_WORK" --cfg-options "${SEG_OPTS[@]}"
SEG_CKPT="$(cat "$SEG_WORK/last_checkpoint")"
run "$PY" tools/analysis_tools/plot_curve.py "$SEG_WORK" --out "$WORK/curve_sp-head_camvid.png" \
  --title "ResNet-18 + SP head, $SEG_NAME"

# ------------------------------------------------------------------ 3. zero-shot on BSDS500
ZS_TABLE="$WORK/zero_shot_bsds500.md"
if [ -d "$SHARED/bsds500/images/val" ]; then
  BSDS="$(cd "$SHARED/bsds500" && pwd)"
  step "3/5 zero-shot superpixels on BSDS500 val ($IMAGES images): SPFormer-T vs patch grid vs SLIC"
  run "$PY" tools/eval_superpixels.py \
    --method configs/superpixel_eval/patch-grid_14x14_bsds500-val.py \
    --method configs/demo/spformer-t-cifar10_zeroshot-224_bsds500-val.py "$CLS_CKPT" \
    --method configs/superpixel_eval/slic_n196_bsds500-val.py \
    --max-images "$IMAGES" --num-workers 0 --work-dir "$WORK/zero_shot" --out "$ZS_TABLE" \
    --cfg-options "test_dataloader.dataset.data_root=$BSDS"
  mapfile -t VIS_IMAGES < <(ls "$BSDS"/images/val/*.jpg | head -n 4)
else
  step "3/5 $SHARED/bsds500 is absent: zero-shot evaluation skipped"
  echo "BSDS500 absent: zero-shot evaluation skipped" > "$ZS_TABLE"
  mapfile -t VIS_IMAGES < <(ls "$SEG_DATA"/images/val/*.jpg | head -n 4)
fi

# ------------------------------------------------------------------ 4. pictures
step "4/5 superpixel pictures: boundaries, mean colour, association, rotation and occlusion"
run "$PY" tools/visualization/visualize_superpixels.py "${VIS_IMAGES[@]}" \
  --method configs/superpixel_eval/patch-grid_14x14_bsds500-val.py \
  --method configs/demo/spformer-t-cifar10_zeroshot-224_bsds500-val.py "$CLS_CKPT" \
  --method configs/superpixel_eval/slic_n196_bsds500-val.py \
  --rotate 30 90 --occlude 64 --superpixel 100 150 --out-dir "$WORK/pictures/zero_shot"
mapfile -t SEG_IMAGES < <(ls "$SEG_DATA"/images/val/*.jpg | head -n 3)
run "$PY" tools/visualization/visualize_superpixels.py "${SEG_IMAGES[@]}" \
  --method "$SEG_CFG" "$SEG_CKPT" --superpixel 180 240 --out-dir "$WORK/pictures/camvid_sp_head"

# ------------------------------------------------------------------ 5. summary
step "5/5 summary"
run "$PY" tools/misc/demo_summary.py "$WORK" --cls-work "$CLS_WORK" --cls-data "$CLS_NAME" \
  --seg-work "$SEG_WORK" --seg-data "$SEG_NAME" --zero-shot "$ZS_TABLE" \
  --minutes $(((SECONDS - START) / 60))
