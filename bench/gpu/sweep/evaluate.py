import sys
from cgan_train.cli import eval_main
sys.argv = ["cgan-eval", *sys.argv[1:]]
eval_main()
