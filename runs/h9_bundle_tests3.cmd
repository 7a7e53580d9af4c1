OMP_NUM_THREADS=1 python -m pytest -p no:warnings -q tests/bundles/test_mc_cdic_sr_bundle.py tests/engines/test_distillation.py -rfE --durations=5
