# Three stages on the photo collection (issue 24), each from the previous stage's best validation epoch.
# init of stage 1: the weights shipped at 534a8d6 (training/spdnet_photos_ft):
git show 534a8d6:monai_mcrecon/bundles/spdnet_derain/models/model.pt > runs/init_spdnet_0.3.pt
# stage 1: the recipe of training/spdnet_photos_ft, longer, slower decay; stopped during epoch 9 (best epoch 4, 23.01 dB)
nohup env OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/spdnet_derain/configs/train.json --logging_file bundles/spdnet_derain/configs/logging.conf --output_dir runs/spdnet_photos_ft3 --init_ckpt runs/init_spdnet_0.3.pt --learning_rate 0.0001 --iterations_per_epoch 150 --max_epochs 30 --lr_decay_iterations 2000 --checkpoint_interval 1 --rain_density_range "[0.002, 0.01]" --rain_width_range "[0.3, 1.0]" --rain_length_range "[8.0, 35.0]" > runs/spdnet_photos_ft3/train.log 2>&1 &
cp runs/spdnet_photos_ft3/model.pt runs/init_spdnet_ft3_e4.pt
# stage 2: rain density from 0 (light rain and rain-free samples); stopped during epoch 4 (best epoch 1, 23.14 dB)
nohup env OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/spdnet_derain/configs/train.json --logging_file bundles/spdnet_derain/configs/logging.conf --output_dir runs/spdnet_light_ft4 --init_ckpt runs/init_spdnet_ft3_e4.pt --learning_rate 0.0001 --iterations_per_epoch 150 --max_epochs 24 --lr_decay_iterations 1500 --checkpoint_interval 1 --rain_density_range "[0.0, 0.01]" --rain_width_range "[0.3, 1.0]" --rain_length_range "[8.0, 35.0]" > runs/spdnet_light_ft4/train.log 2>&1 &
cp runs/spdnet_light_ft4/model.pt runs/init_spdnet_light_e1.pt
# stage 3: the same data with a moving average of the weights (validated and saved); model.pt = best epoch 18 (23.62 dB),
# paused after epoch 19 for this commit (resume: the same command with --resume true)
nohup env OMP_NUM_THREADS=2 python -m monai.bundle run --config_file bundles/spdnet_derain/configs/train.json --logging_file bundles/spdnet_derain/configs/logging.conf --output_dir runs/spdnet_ema_ft5 --init_ckpt runs/init_spdnet_light_e1.pt --learning_rate 0.0001 --iterations_per_epoch 150 --max_epochs 30 --lr_decay_iterations 1500 --checkpoint_interval 1 --ema_momentum 0.005 --rain_density_range "[0.0, 0.01]" --rain_width_range "[0.3, 1.0]" --rain_length_range "[8.0, 35.0]" > runs/spdnet_ema_ft5/train.log 2>&1 &
cp runs/spdnet_ema_ft5/model.pt monai_mcrecon/bundles/spdnet_derain/models/model.pt
