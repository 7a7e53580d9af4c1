# v1 (first version) diagnosis, stopped after iteration 75 (log: run.log next to this file); the script's defaults follow train.json (now v2), so v1 needs:
OMP_NUM_THREADS=1 python benchmarks/experiments/unikd_mccdic_diag/diag.py 300 w_feat=0.01 w_supp=0.01 balance=False supp_trains_student=True feature_warmup=0
