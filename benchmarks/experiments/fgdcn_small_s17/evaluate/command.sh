# stage 17's best-validation EMA checkpoint (epoch 3, validation 33.07 dB) on the held-out test clips, checked after the run
OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/fgdcn_vfi/configs/evaluate.json --ckpt_path runs/fgdcn_small_s17/model_key_metric.pt --tvl1_baseline false --save_figures false --output_dir runs/fgdcn_small_s17_evaluate
