# the init weights are the x4 weights shipped before this retraining (trained on the sample only); not stored twice:
git show 3ba6ef7:bundles/mc_cdic_sr/models/model_x4.pt > runs/init_mc_cdic_sr_x4_3ba6ef7.pt
python -m monai.bundle run --config_file bundles/mc_cdic_sr/configs/train.json --logging_file bundles/mc_cdic_sr/configs/logging.conf --preset small --scale 4 --output_dir runs/mc_cdic_sr_synth_x4 --init_ckpt runs/init_mc_cdic_sr_x4_3ba6ef7.pt --synthetic_samples 900 --max_epochs 10 --val_interval 1 --checkpoint_interval 1 --learning_rate 0.0003 --val_dataset_dir monai_mcrecon/data/real_val/guided.json --val_target_contrast target --val_reference_contrast reference
# stopped by hand (kill) after epoch 5; model.pt = best real-validation epoch (3)
