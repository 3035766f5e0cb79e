#!/usr/bin/env bash
# The CPU-sized SP-MAE comparison, evaluation part (configs/spmae/README.md), after
# tools/experiments/spmae_cpu_pretrain.sh: for R (random init, seed SEED; for the probe also the
# random-init ViT-T/8, "random-vit"), S, M1-M4
#  * E1 linear probe on the CIFAR-10 subset (tools/linear_probe.py, frozen encoder, mean of the
#    final tokens; the first PROBE_SAMPLES images of each split, spread over the classes),
#  * E3 zero-shot superpixels on BSDS500 val at 224 px (tools/eval_superpixels.py; M1's ViT has
#    no association), with the 28x28 grid and SLIC (784 asked) controls,
# one JSON per number under WORK/seedSEED/{probe,zeroshot}; finished ones are skipped.
# Usage (from the repository root; SKIP_PROBE=1: the zero-shot part only, e.g. beside a first
# instance that is busy with the probes):
#   bash tools/experiments/spmae_cpu_eval.sh [SEED] [DATA] [WORK] [PROBE_SAMPLES]
set -euo pipefail
SEED=${1:-0}
DATA=${2:-../shared/data}
WORK=${3:-work_dirs/spmae_cpu}
SAMPLES=${4:-3000}
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
RUNS=$WORK/seed$SEED
CIFAR="train_dataloader.dataset.data_root=$DATA/cifar10 test_dataloader.dataset.data_root=$DATA/cifar10"
mkdir -p "$RUNS/probe" "$RUNS/zeroshot"
ckpt() { case $1 in random*) echo '';; *) echo "$RUNS/$1/iter_200.pth";; esac; }

for run in ${SKIP_PROBE:+none} random random-vit mae_vit-t-p8 spmae-grid_spformer-t-s8 spmae_spformer-t-s8 \
           spmae-nodil_spformer-t-s8 spformer-t-s8; do
    [ $run = none ] && break
    out=$RUNS/probe/$run.json
    c=$(ckpt $run)
    if [ -f "$out" ] || { [ -n "$c" ] && [ ! -f "$c" ]; }; then continue; fi
    cls=configs/spmae/spformer-t-s8_1xb64-30e_cifar10-64px.py
    case $run in mae_vit-t-p8|random-vit) cls=configs/spmae/vit-t-p8_1xb64-30e_cifar10-64px.py;; esac
    $PY tools/linear_probe.py $cls $c --max-samples $SAMPLES --seed $SEED --device cpu \
        --work-dir "$RUNS/probe/$run" --out "$out" --cfg-options $CIFAR > "$RUNS/probe/$run.log" 2>&1 \
        || { echo "failed: probe $run (see $RUNS/probe/$run.log)"; continue; }
    echo "probe $run: $(grep '"top1"' "$out")"
done

zs() {  # name config [checkpoint]
    local out=$RUNS/zeroshot/$1.json
    if [ -f "$out" ] || { [ -n "${3:-}" ] && [ ! -f "$3" ]; }; then return; fi
    $PY tools/eval_superpixels.py --method $2 ${3:-} --work-dir "$RUNS/zeroshot/$1" --out "$out" \
        --cfg-options test_dataloader.dataset.data_root=$DATA/bsds500 \
        test_dataloader.num_workers=0 test_dataloader.persistent_workers=False \
        randomness.seed=$SEED > "$RUNS/zeroshot/$1.log" 2>&1 \
        || { echo "failed: zero-shot $1 (see $RUNS/zeroshot/$1.log)"; return; }
    echo "zero-shot $1: done"
}
ZS=configs/spmae/spformer-t-s8_zeroshot-224_bsds500-val.py
zs grid-28x28 configs/spmae/patch-grid_28x28_bsds500-val.py
zs slic-n784 configs/spmae/slic_n784_bsds500-val.py
zs random $ZS
for run in spmae-grid_spformer-t-s8 spmae_spformer-t-s8 spmae-nodil_spformer-t-s8 spformer-t-s8; do
    zs $run $ZS "$(ckpt $run)"
done
