#!/usr/bin/env bash
# The CPU-sized SP-MAE comparison, pre-training part (configs/spmae/README.md): M1 (patch MAE),
# M2 (SP-MAE, grid masks), M3 (SP-MAE, EMA-teacher superpixel masks), M4 (M3 without dilation)
# and S (supervised), each 200 iterations of batch 32 on the CIFAR-10 subset at 64 px, one
# thread, one run at a time. Usage (from the repository root):
#   bash tools/experiments/spmae_cpu_pretrain.sh [SEED] [DATA] [WORK]
# SEED defaults to 0, DATA to ../shared/data, WORK to work_dirs/spmae_cpu.
set -euo pipefail
SEED=${1:-0}
DATA=${2:-../shared/data}
WORK=${3:-work_dirs/spmae_cpu}
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for cfg in mae_vit-t-p8 spmae-grid_spformer-t-s8 spmae_spformer-t-s8 spmae-nodil_spformer-t-s8 \
           spformer-t-s8; do
    out=$WORK/seed$SEED/$cfg
    mkdir -p "$WORK/seed$SEED"
    if [ -f "$out/iter_200.pth" ]; then continue; fi
    extra=''  # the supervised config also has (unused) val / test loaders
    case $cfg in spformer-t-s8) extra="val_dataloader.dataset.data_root=$DATA/cifar10
        test_dataloader.dataset.data_root=$DATA/cifar10";; esac
    $PY tools/train.py configs/spmae/${cfg}_1xb32-200it_cifar10-64px.py --work-dir "$out" \
        --cfg-options randomness.seed=$SEED train_dataloader.num_workers=1 \
        train_dataloader.dataset.data_root=$DATA/cifar10 $extra > "$out.log" 2>&1 \
        || { echo "failed: $cfg (see $out.log)"; exit 1; }
    echo "$cfg: $(grep -o ' time: [0-9.]*' "$out.log" | tail -1) s/it (last 10 iterations)"
done
