OMP_NUM_THREADS=1 python runs/unikd_mccdic_diag.py 76   # v2 defaults of train.json
