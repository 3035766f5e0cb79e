#!/usr/bin/env bash
# Matched returned counts for the zero-shot part of the CPU-sized SP-MAE comparison
# (configs/spmae/README.md): the connectivity pass merges pieces below `connectivity_min_size`
# pixels (48 in the zero-shot config), so the returned count differs between models. This
# re-evaluates R and the SP-MAE runs with other minimum sizes, so that scores can be compared at
# the same returned count. Usage (from the repository root, after spmae_cpu_eval.sh):
#   bash tools/experiments/spmae_cpu_matched.sh [SEED] [DATA] [WORK] [RUN:SIZE ...]
set -euo pipefail
SEED=${1:-0}
DATA=${2:-../shared/data}
WORK=${3:-work_dirs/spmae_cpu}
shift $(( $# < 3 ? $# : 3 ))
PAIRS=${*:-random:24 random:32 spmae_spformer-t-s8:64 spmae_spformer-t-s8:96}
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
RUNS=$WORK/seed$SEED
mkdir -p "$RUNS/matched"
for pair in $PAIRS; do
    run=${pair%%:*}; size=${pair##*:}
    out=$RUNS/matched/$run-min$size.json
    [ -f "$out" ] && continue
    ckpt=''; [ $run != random ] && ckpt=$RUNS/$run/iter_200.pth
    $PY tools/eval_superpixels.py --method configs/spmae/spformer-t-s8_zeroshot-224_bsds500-val.py \
        $ckpt --work-dir "$RUNS/matched/$run-min$size" --out "$out" \
        --cfg-options test_dataloader.dataset.data_root=$DATA/bsds500 \
        test_dataloader.num_workers=0 test_dataloader.persistent_workers=False \
        randomness.seed=$SEED model.connectivity_min_size=$size \
        > "$RUNS/matched/$run-min$size.log" 2>&1 \
        || { echo "failed: $pair (see $RUNS/matched/$run-min$size.log)"; continue; }
    echo "$pair: $(tail -1 "$RUNS/matched/$run-min$size.log")"
done
