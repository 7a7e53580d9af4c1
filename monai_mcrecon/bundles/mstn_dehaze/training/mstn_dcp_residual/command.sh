# issue 24: MSTN refining the dark-channel prior (residual_prior), trained from scratch on the photo collection
# (train.json's defaults since this run: residual_prior true, prior_radius 32, output_bias null; patch_size was then
# given on the command line and is now the default)
OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/mstn_dehaze/configs/train.json --logging_file bundles/mstn_dehaze/configs/logging.conf --output_dir runs/mstn_dcp_residual --max_epochs 40 --val_interval 2 --checkpoint_interval 2 --patch_size "[96, 96]"
# model.pt = the best validation PSNR (epoch 22 of 40) on the 13 validation photographs
