# the init weights are stage 1's (its best-validation epoch 10 = its last), shipped as models/model.pt in commit 1eb8b8c; not stored twice:
mkdir -p runs/ssrde_small_x2_s1 && git show 1eb8b8c:bundles/ssrde_stereo_sr/models/model.pt > runs/ssrde_small_x2_s1/model.pt
# stage 2 of the two-stage recipe: the release loss with attention smoothness, from stage 1, half the learning rate, 1,000 iterations
OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/ssrde_stereo_sr/configs/train.json --meta_file bundles/ssrde_stereo_sr/configs/metadata.json --logging_file bundles/ssrde_stereo_sr/configs/logging.conf --init_ckpt runs/ssrde_small_x2_s1/model.pt --learning_rate 0.00025 --lr_decay_iterations 1000 --max_epochs 10 --iterations_per_epoch 100 --output_dir runs/ssrde_small_x2_s2
