cd benchmarks && OMP_NUM_THREADS=1 python bvfi_quality.py --ckpt ../bundles/bvfi_blurry_vfi/models/model.pt --tvl1 --out results/bvfi_quality.md --figure results/bvfi_quality.png --strip results/bvfi_quality_strip.png
# (run on runs/bvfi_clips_ft5/model_key_metric.pt, byte-identical to the shipped models/model.pt; run.log is its output)
