OMP_NUM_THREADS=1 python benchmarks/spdnet_quality.py --ckpt bundles/spdnet_derain/models/model.pt --out benchmarks/results/spdnet_quality.md --figure benchmarks/results/spdnet_quality.png
