OMP_NUM_THREADS=1 python runs/deep_rl_probe2.py b_s5 c_s5_lam1 d_s5_lr2e-3
