OMP_NUM_THREADS=1 python -m pytest -p no:warnings -q tests/reliability -rA --durations=10
