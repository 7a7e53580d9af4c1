cd /work/main && source /work/venv/bin/activate && OMP_NUM_THREADS=1 python benchmarks/mstn_quality.py --ckpt bundles/mstn_dehaze/models/model.pt --out benchmarks/results/mstn_quality.md
