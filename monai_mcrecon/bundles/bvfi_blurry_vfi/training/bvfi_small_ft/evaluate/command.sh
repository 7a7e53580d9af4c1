OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/bvfi_blurry_vfi/configs/evaluate.json --ckpt_path runs/bvfi_small_ft/model.pt --output_dir runs/bvfi_small_ft_evaluate
