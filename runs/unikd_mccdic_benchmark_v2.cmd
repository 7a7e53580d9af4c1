OMP_NUM_THREADS=1 python benchmarks/unikd_quality.py mccdic --tag _v2wf003 --alone_tag _v2 --seeds 0 1 2 --out benchmarks/results/unikd_mccdic.md --figure benchmarks/results/unikd_mccdic.png
