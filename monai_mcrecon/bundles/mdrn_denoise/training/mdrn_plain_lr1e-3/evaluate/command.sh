OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/mdrn_denoise/configs/evaluate.json --output_dir runs/mdrn_eval
