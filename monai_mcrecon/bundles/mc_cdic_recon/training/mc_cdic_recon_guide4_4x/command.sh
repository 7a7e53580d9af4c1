# init: the 4x weights shipped at commit d466ff2 (training/mc_cdic_recon_guide3_4x), not stored twice:
git show d466ff2:monai_mcrecon/bundles/mc_cdic_recon/models/model.pt > runs/init_mc_cdic_recon_4x_guide3.pt
# fourth step: every synthetic guide imperfect (--synthetic_reference_degradation 1.0 instead of 0.7), 96 x 96 patches
OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/mc_cdic_recon/configs/train.json --logging_file bundles/mc_cdic_recon/configs/logging.conf --preset small --output_dir runs/mc_cdic_recon_guide4_4x --init_ckpt runs/init_mc_cdic_recon_4x_guide3.pt --synthetic_samples 600 --synthetic_reference_degradation 1.0 --patch_size "[96, 96]" --max_epochs 8 --val_interval 1 --checkpoint_interval 1 --learning_rate 0.0001 --val_dataset_dir monai_mcrecon/data/real_val/guided.json --val_target_contrast target --val_reference_contrast reference
# model.pt = the best epoch on the real pair (3 of 8)
