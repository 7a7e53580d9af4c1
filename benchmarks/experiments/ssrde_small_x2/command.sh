# Run as below. NOTE: the CLI string "false" reached SSRDEFNet(cross_view="false"), which is truthy, so this
# run trained the STEREO network (training_info.json: "cross_view": "false"); it is therefore the stereo
# model with L_SR only (all other loss weights 0). The configs now parse booleans and the network rejects
# non-bool flags. Stopped by hand after 3 complete epochs (300 iterations).
OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/ssrde_stereo_sr/configs/train.json --logging_file bundles/ssrde_stereo_sr/configs/logging.conf --output_dir runs/ssrde_small_x2_mono --cross_view false --loss_weights '{"cons":0,"photo":0,"smooth":0,"cycle":0,"disp_smooth":0,"photometric":0}'
