# short probes (300 iterations each) to choose lr and RL updates per stage; val PSNR on 'coffee'
for cfg in "a 0.0005 1" "b 0.0005 5" ; do set -- $cfg
OMP_NUM_THREADS=1 python -m monai.bundle run --config_file bundles/deep_rl_deblur/configs/train.json --preset small --max_epochs 2 --iterations_per_epoch 150 --learning_rate $2 --network_def#iterations_per_stage $3 --output_dir runs/deep_rl_probe_$1 > runs/deep_rl_probe_$1.log 2>&1
done
