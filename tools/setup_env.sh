#!/usr/bin/env bash
# Create (or complete) the project virtual environment at <repo>/.venv with the
# measured OpenMMLab stack. Idempotent: a second run on a complete venv only
# verifies the imports and takes seconds.
#
# Usage: bash tools/setup_env.sh            (PYTHON=python3.11 by default)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.mmsp-env-v1"

step() { printf '\n[setup_env] %s\n' "$*"; }
fail() { printf '\n[setup_env] FAILED at step: %s\n' "$CURRENT" >&2; exit 1; }
trap fail ERR

PIP="$VENV/bin/python -m pip"
# The machine-wide pip config points find-links at a local torch '+cpu' wheel
# that cannot load torchvision: ignore it for every install below.
export PIP_FIND_LINKS=/nonexistent
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ -f "$STAMP" ] && "$VENV/bin/python" - <<'PY' 2>/dev/null
import mmcv, mmcv.ops, mmengine, mmseg, mmpretrain, torch, torchvision, mmsp  # noqa
assert mmcv.__version__ == '2.1.0' and torch.__version__.startswith('2.13.0')
PY
then
  step "environment at $VENV is complete (torch, torchvision, mmcv with ops, mmseg, mmpretrain, mmsp)"
  exit 0
fi

CURRENT="create venv with $PYTHON"
step "$CURRENT"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

CURRENT="install build tools (setuptools<82: mmengine/mmcv import pkg_resources)"
step "$CURRENT"
$PIP install -q "setuptools<82" wheel ninja

CURRENT="install torch==2.13.0 and torchvision==0.28.0 from the registry (large download on first run)"
step "$CURRENT"
$PIP install -q "torch==2.13.0" "torchvision==0.28.0" "setuptools<82"

CURRENT="build mmcv==2.1.0 with ops from the sdist (about 8 minutes on 2 cores; cached by pip afterwards)"
step "$CURRENT"
MAX_JOBS="${MAX_JOBS:-$(nproc)}" $PIP install --no-build-isolation "mmcv==2.1.0"

CURRENT="install mmengine, mmsegmentation, mmpretrain and the rest of the stack"
step "$CURRENT"
$PIP install -q "mmengine==0.10.7" "mmsegmentation==1.2.2" "mmpretrain==1.2.0" \
  ftfy regex scipy scikit-image pytest pytest-timeout hypothesis

CURRENT="install mmsp (editable)"
step "$CURRENT"
$PIP install -q --no-build-isolation --no-deps -e "$ROOT"

CURRENT="verify imports"
step "$CURRENT"
"$VENV/bin/python" - <<'PY'
import mmcv, mmcv.ops, mmengine, mmseg, mmpretrain, torch, torchvision, mmsp
print('torch', torch.__version__, '| torchvision', torchvision.__version__,
      '| mmcv', mmcv.__version__, '| mmengine', mmengine.__version__,
      '| mmseg', mmseg.__version__, '| mmpretrain', mmpretrain.__version__)
PY
touch "$STAMP"
step "done: activate with 'source .venv/bin/activate'"
