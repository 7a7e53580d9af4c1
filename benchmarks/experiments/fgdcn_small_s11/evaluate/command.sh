# stage 11's best-validation EMA checkpoint (epoch 2) on the held-out test clips, checked after the run (not used for any choice)
# (run before commit 36c3582: --tvl1_baseline false and --save_figures false were then ignored, so the TV-L1 columns and figures were produced; figures not committed)
OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/fgdcn_vfi/configs/evaluate.json --ckpt_path runs/fgdcn_small_s11/model_key_metric.pt --tvl1_baseline false --save_figures false --output_dir runs/fgdcn_small_s11_evaluate
