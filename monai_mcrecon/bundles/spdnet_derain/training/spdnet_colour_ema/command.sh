# One fine-tuning step on the photo collection (issue 24, colour safety) from the weights shipped as 0.3.0
# (training/spdnet_light_ema), not stored twice:
git show 636eca4:monai_mcrecon/bundles/spdnet_derain/models/model.pt > runs/init_spdnet_ema_e18.pt
# new: a random hue rotation and saturation of the clean photo (p 0.5) and a rain-free pair (p 0.15); a moving average
# of the weights is validated and saved; model.pt = its best validation epoch (11 of 12)
nohup env OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/spdnet_derain/configs/train.json --logging_file bundles/spdnet_derain/configs/logging.conf --output_dir runs/spdnet_colour_ft6 --init_ckpt runs/init_spdnet_ema_e18.pt --learning_rate 0.00005 --iterations_per_epoch 150 --max_epochs 12 --lr_decay_iterations 1500 --checkpoint_interval 1 --ema_momentum 0.005 --hue_prob 0.5 --rain_free_prob 0.15 --rain_density_range "[0.0, 0.01]" --rain_width_range "[0.3, 1.0]" --rain_length_range "[8.0, 35.0]" > runs/spdnet_colour_ft6/train.log 2>&1 &
cp runs/spdnet_colour_ft6/model.pt monai_mcrecon/bundles/spdnet_derain/models/model.pt
