python benchmarks/unikd_quality.py mccdic --tag _e25 --seeds 0 1 2 --out benchmarks/results/unikd_mccdic_e25.md --figure benchmarks/results/unikd_mccdic_e25.png
