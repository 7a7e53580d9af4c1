OMP_NUM_THREADS=1 python benchmarks/fgdcn_quality.py --out benchmarks/results/fgdcn_quality.md --figure benchmarks/results/fgdcn_quality.png
