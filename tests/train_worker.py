"""`cgan-train` for the torchrun tests: dropout off, and several runs in one launch.

Dropout draws its own masks in each process, so it is the one part of a step
that N processes cannot reproduce bit for bit; with it off, one process and N
agree (CGAN_TEST_NO_DROPOUT=1). Arguments separated by `--then` are run one
after the other in the same processes: starting Python and torch is most of a
launch's time on a small machine. In a run, `--test-fail-at-step N` makes rank 1 fail
on its Nth step and `--test-nan-loss-at-step N` gives rank 1 alone a non-finite loss
there, to see how one process's trouble ends the run in every process; a run that
fails is followed by the next. The worker makes the process group itself, so that it
outlives each run (gloo cannot join a second group in one launch).
"""

import os
import sys

import torch
import torch.distributed

from cgan_train import trainer
from cgan_train.cli import train_main

if os.environ.get("CGAN_TEST_NO_DROPOUT") == "1":
    torch.nn.Dropout.forward = lambda self, x: x

REAL_STEP = trainer.train_step
FAULTS = {"--test-fail-at-step": "fail", "--test-nan-loss-at-step": "nan"}


def faulty_step(fault: str, at: int):
    """trainer.train_step, but rank 1's `at`th call raises ("fail") or returns non-finite losses ("nan")."""
    calls = []

    def step(*step_args):
        calls.append(1)
        if len(calls) == at and os.environ["RANK"] == "1":
            if fault == "fail":
                raise RuntimeError("injected failure")
            return REAL_STEP(*step_args) * float("nan")
        return REAL_STEP(*step_args)

    return step


if __name__ == "__main__":
    torch.distributed.init_process_group("gloo")
    prog, args = sys.argv[0], sys.argv[1:]
    while args:
        run, args = (args[: args.index("--then")], args[args.index("--then") + 1 :]) if "--then" in args else (args, [])
        trainer.train_step = REAL_STEP
        for flag, fault in FAULTS.items():
            if flag in run:
                at = run.index(flag)
                trainer.train_step, run = faulty_step(fault, int(run[at + 1])), run[:at] + run[at + 2 :]
        sys.argv = [prog, *run]
        try:
            train_main()
        except SystemExit:
            if not args:
                raise
