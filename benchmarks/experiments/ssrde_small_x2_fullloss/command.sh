OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/ssrde_stereo_sr/configs/train.json --logging_file bundles/ssrde_stereo_sr/configs/logging.conf --output_dir runs/ssrde_small_x2
