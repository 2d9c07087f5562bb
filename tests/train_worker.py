"""`cgan-train` for the torchrun tests: dropout off, and several runs in one launch.

Dropout draws its own masks in each process, so it is the one part of a step
that N processes cannot reproduce bit for bit; with it off, one process and N
agree (CGAN_TEST_NO_DROPOUT=1). Arguments separated by `--then` are run one
after the other in the same processes: starting Python and torch is most of a
launch's time on a small machine. `--test-fail-at-step N` in a run makes rank 1
fail on its Nth step, to see how one process's failure ends the run. The worker makes the process group itself, so
that it outlives each run (gloo cannot join a second group in one launch).
"""

import os
import sys

import torch
import torch.distributed

from cgan_train import trainer
from cgan_train.cli import train_main

if os.environ.get("CGAN_TEST_NO_DROPOUT") == "1":
    torch.nn.Dropout.forward = lambda self, x: x

if __name__ == "__main__":
    torch.distributed.init_process_group("gloo")
    prog, args = sys.argv[0], sys.argv[1:]
    while args:
        run, args = (args[: args.index("--then")], args[args.index("--then") + 1 :]) if "--then" in args else (args, [])
        if "--test-fail-at-step" in run:
            at = run.index("--test-fail-at-step")
            fail_at, run = int(run[at + 1]), run[:at] + run[at + 2 :]
            if os.environ["RANK"] == "1":
                real_step, calls = trainer.train_step, []

                def failing_step(*step_args):
                    calls.append(1)
                    if len(calls) == fail_at:
                        raise RuntimeError("injected failure")
                    return real_step(*step_args)

                trainer.train_step = failing_step
        sys.argv = [prog, *run]
        train_main()
