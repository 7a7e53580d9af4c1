# ablation: the spec's small (1 RL update per stage, lambda_init 0.01), same recipe as the shipped model
nohup env OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/deep_rl_deblur/configs/train.json --preset small --network_def#iterations_per_stage 1 --network_def#lambda_init 0.01 --output_dir runs/deep_rl_small_spec > runs/deep_rl_small_spec.log 2>&1 &
