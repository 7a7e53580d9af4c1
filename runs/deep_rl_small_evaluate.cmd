python -m monai.bundle run --config_file bundles/deep_rl_deblur/configs/evaluate.json --output_dir runs/deep_rl_small_evaluate
