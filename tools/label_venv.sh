#!/usr/bin/env bash
# Create a separate virtual environment for MONAI Label and run the MONAI Label tests in it.
#
# monailabel 0.8.5 pins numpy 1.26 and jsonschema 3.2, which cannot coexist with the main stack,
# so monai_mcrecon.label is tested in its own venv (the main venv skips tests/label).
#
# Usage (from anywhere):  tools/label_venv.sh [VENV_DIR]      (default: <repo>/.venv-label)
#   PYTHON=python3.11 tools/label_venv.sh                     (interpreter used to create the venv)
#   SKIP_INSTALL=1 tools/label_venv.sh                        (reuse an existing venv, run the tests only)
#
# Then start the server:
#   .venv-label/bin/monailabel start_server --app <copy of monai_mcrecon/label/app_dir> --studies <folder> \
#       --host 127.0.0.1 --port 8000 --uvicorn_app monai_mcrecon.label.app:asgi_app   (loopback only)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$REPO/.venv-label}"
PYTHON="${PYTHON:-python3}"
start=$(date +%s)

if [[ "${SKIP_INSTALL:-0}" != "1" ]]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --upgrade pip
    "$VENV/bin/pip" install -e "$REPO[all]" "monailabel==0.8.5"
    echo "label venv ready in $VENV after $(( $(date +%s) - start )) s"
fi

cd "$REPO"
OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" \
    "$VENV/bin/python" -m pytest -q tests/label
echo "done in $(( $(date +%s) - start )) s"
