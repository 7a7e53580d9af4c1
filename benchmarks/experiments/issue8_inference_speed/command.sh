OMP_NUM_THREADS=1 python benchmarks/inference_speed.py --threads 1 --repeats 3 --out benchmarks/results/inference_speed.json --markdown benchmarks/results/inference_speed.md
