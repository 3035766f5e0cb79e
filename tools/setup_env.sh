#!/usr/bin/env bash
# Create (or complete) the project virtual environment at <repo>/.venv with the measured
# OpenMMLab stack. Idempotent: on a complete venv it only verifies the imports and pins (seconds).
#
# Usage: bash tools/setup_env.sh
#   PYTHON=python3.11   interpreter for a new venv (default python3.11)
#   MMSP_VENV=<dir>     venv location (default <repo>/.venv; the other scripts use <repo>/.venv)
#   MAX_JOBS=<n>        parallel compile jobs for mmcv (default: nproc)
#   MMSP_DEPLOY=0       skip the optional deploy extra (ONNX export tools; their tests skip)
set -Eeuo pipefail  # -E: the ERR trap also fires inside functions

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMSP_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.mmsp-env-v2"
CURRENT="start"

step() { printf '\n[setup_env] %s\n' "$*"; }
fail() { printf '\n[setup_env] FAILED at step: %s\n' "$CURRENT" >&2; exit 1; }
trap fail ERR
pip_install() { "$VENV/bin/python" -m pip install "$@"; }

# The machine-wide pip config points find-links at a local torch '+cpu' wheel that cannot load
# torchvision (its _C links libtorch_cuda): ignore it for every install below, so torch and
# torchvision both come from the registry as matching builds.
export PIP_FIND_LINKS=/nonexistent
export PIP_DISABLE_PIP_VERSION_CHECK=1

# Verification of a complete environment: imports and exact pins, and mmsp installed from THIS
# checkout (editable). Used for the fast path and as the last step.
verify() {
  MMSP_ROOT="$ROOT" "$VENV/bin/python" - <<'PY'
import os
import mmcv, mmcv.ops, mmengine, mmseg, mmpretrain, setuptools, torch, torchvision  # noqa
import mmseg.models, mmpretrain.models  # noqa: the real import paths the tools use
import mmsp
pins = {'torch': (torch.__version__.split('+')[0], '2.13.0'),
        'torchvision': (torchvision.__version__.split('+')[0], '0.28.0'),
        'mmcv': (mmcv.__version__, '2.1.0'), 'mmengine': (mmengine.__version__, '0.10.7'),
        'mmsegmentation': (mmseg.__version__, '1.2.2'),
        'mmpretrain': (mmpretrain.__version__, '1.2.0')}
bad = {k: v for k, v in pins.items() if v[0] != v[1]}
assert not bad, f'version mismatch (installed, wanted): {bad}'
assert '+cpu' not in torch.__version__, 'torch must come from the registry, not a +cpu wheel'
assert int(setuptools.__version__.split('.')[0]) < 82, 'setuptools must be < 82 (pkg_resources)'
here = os.path.realpath(os.environ['MMSP_ROOT'])
assert os.path.realpath(mmsp.__file__).startswith(here + os.sep), \
    f'mmsp is imported from {mmsp.__file__}, not from {here}'
print('torch', torch.__version__, '| torchvision', torchvision.__version__,
      '| mmcv', mmcv.__version__, '(ops) | mmengine', mmengine.__version__,
      '| mmseg', mmseg.__version__, '| mmpretrain', mmpretrain.__version__,
      '| setuptools', setuptools.__version__)
PY
}

if [ -f "$STAMP" ] && verify 2>/dev/null; then
  step "environment at $VENV is complete"
  exit 0
fi

CURRENT="create the venv with $PYTHON"
step "$CURRENT"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

CURRENT="install build tools (setuptools<82: mmengine/mmcv import pkg_resources)"
step "$CURRENT"
pip_install -q "setuptools<82" wheel ninja

CURRENT="install torch==2.13.0 and torchvision==0.28.0 from the registry (several GB at first)"
step "$CURRENT"
pip_install -q "torch==2.13.0" "torchvision==0.28.0" "setuptools<82"

CURRENT="build mmcv==2.1.0 with ops from the sdist (8-15 min on 2 cores at first; pip caches it)"
step "$CURRENT"
MAX_JOBS="${MAX_JOBS:-$(nproc)}" pip_install --no-build-isolation "mmcv==2.1.0"

CURRENT="install mmengine, mmsegmentation, mmpretrain and the rest of the stack"
step "$CURRENT"
pip_install -q "mmengine==0.10.7" "mmsegmentation==1.2.2" "mmpretrain==1.2.0" "setuptools<82" \
  ftfy regex scipy scikit-image pytest pytest-timeout hypothesis flake8

if [ "${MMSP_DEPLOY:-1}" != "0" ]; then
  CURRENT="install the deploy extra (onnx, onnxruntime, onnxscript: tools/deployment and its tests)"
  step "$CURRENT"
  pip_install -q "onnx==1.23.2" "onnxruntime==1.32.0" "onnxscript==0.7.2"
fi

CURRENT="install mmsp (editable)"
step "$CURRENT"
pip_install -q --no-build-isolation --no-deps -e "$ROOT"

CURRENT="verify imports and pins"
step "$CURRENT"
verify
touch "$STAMP"
step "done: activate with 'source $VENV/bin/activate'"
