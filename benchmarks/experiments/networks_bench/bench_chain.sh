#!/usr/bin/env bash
# Issue 8 benchmark chain (after `benchmarks/networks.py --threads 1` finished; see command.sh next to this file):
# MONAI VarNet rows (its input builder was fixed mid-run), merged table, scaling study, data pipeline vs fastMRI.
set -x
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1
[ -n "${VIRTUAL_ENV:-}" ] || . /work/venv/bin/activate
python benchmarks/networks.py --threads 1 --only VarNet --out benchmarks/results/networks_varnet.json --markdown /tmp/networks_varnet.md
python benchmarks/networks.py --merge benchmarks/results/networks.json benchmarks/results/networks_varnet.json \
    --out benchmarks/results/networks.json --markdown benchmarks/results/networks.md
rm -f benchmarks/results/networks_varnet.json
python benchmarks/networks.py --scaling --threads 1 --presets small --repeats 2 --out benchmarks/results/networks.json
python benchmarks/pipeline_speed.py --threads 1 --out benchmarks/results/pipeline_speed.md
# SSRDE-FNet default needs LR views of at least 30 rows (its largest pool): training crop 32x96 for both presets
python benchmarks/networks.py --threads 1 --only SSRDE --out benchmarks/results/networks_ssrde.json --markdown /tmp/networks_ssrde.md
python benchmarks/networks.py --merge benchmarks/results/networks.json benchmarks/results/networks_ssrde.json \
    --out benchmarks/results/networks.json --markdown benchmarks/results/networks.md
rm -f benchmarks/results/networks_ssrde.json
python benchmarks/inference_speed.py --threads 1 --repeats 3 --out benchmarks/results/inference_speed.json --markdown benchmarks/results/inference_speed.md
