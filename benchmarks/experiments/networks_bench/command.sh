OMP_NUM_THREADS=1 python benchmarks/networks.py --threads 1 --out benchmarks/results/networks.json --markdown benchmarks/results/networks.md
