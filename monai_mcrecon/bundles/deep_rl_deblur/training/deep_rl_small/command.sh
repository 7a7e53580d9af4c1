nohup env OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/deep_rl_deblur/configs/train.json --preset small --output_dir runs/deep_rl_small > runs/deep_rl_small.log 2>&1 &
