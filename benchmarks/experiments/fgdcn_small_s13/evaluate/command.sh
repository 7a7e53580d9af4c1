# stage 13's best-validation EMA checkpoint (epoch 2) on the held-out test clips, checked after the run (not used for any choice)
OMP_NUM_THREADS=2 python -m monai.bundle run --config_file bundles/fgdcn_vfi/configs/evaluate.json --ckpt_path runs/fgdcn_small_s13/model_key_metric.pt --tvl1_baseline false --save_figures false --output_dir runs/fgdcn_small_s13_evaluate
