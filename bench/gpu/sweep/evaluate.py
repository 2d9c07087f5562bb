"""cgan-eval, for `python3 bench/gpu/sweep/evaluate.py ARGS` on a machine where the package is on PYTHONPATH only."""
import sys
from cgan_train.cli import eval_main
sys.argv = ["cgan-eval", *sys.argv[1:]]
eval_main()
