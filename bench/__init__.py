"""cgan-edge benchmarks: scripts, not tests.

`python bench/run.py --ckpt RUN/best.pt` runs every section and prints one
markdown table per section; docs/performance.md says what each number means.
Each module below measures one thing and returns plain dicts, so `run.py`
can print them and write them to JSON alike.
"""
