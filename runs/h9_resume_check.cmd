OMP_NUM_THREADS=1 python runs/h9_resume_check.py <bundle> [off]
