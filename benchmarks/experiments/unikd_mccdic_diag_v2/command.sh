OMP_NUM_THREADS=1 python benchmarks/experiments/unikd_mccdic_diag/diag.py 76   # v2 defaults of train.json
