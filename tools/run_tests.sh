#!/usr/bin/env bash
# The mmsp test suite on a fresh machine: bootstrap <repo>/.venv (idempotent; seconds when it is
# complete, ~10-20 minutes the first time because mmcv is compiled), then run pytest.
#
# Usage: bash tools/run_tests.sh [pytest arguments]     (default: tests -q)
# pytest's exit code is returned unchanged, except exit code 5 ("no tests were collected"),
# which never happens on a correct checkout and is reported as a failure (exit 1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash "$ROOT/tools/setup_env.sh"

if [ $# -eq 0 ]; then
  set -- tests -q
fi
printf '\n[run_tests] %s -m pytest %s\n' "$ROOT/.venv/bin/python" "$*"
set +e
"$ROOT/.venv/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "[run_tests] FAILED: pytest collected no tests (exit code 5); this is never expected" >&2
  exit 1
fi
exit "$rc"
