python benchmarks/unikd_quality.py mccdic --seeds 0 1 2 --out benchmarks/results/unikd_mccdic.md --figure benchmarks/results/unikd_mccdic.png
