python benchmarks/unikd_quality.py mccdic --tag _e25 --seeds 0 --extra_modes outkd --out benchmarks/results/unikd_mccdic_e25_outkd_s0.md
