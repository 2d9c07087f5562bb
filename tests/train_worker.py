"""`cgan-train`, with dropout switched off when CGAN_TEST_NO_DROPOUT=1: run as a script by the
torchrun tests. Dropout draws its own masks in each process, so it is the one part of a step
that two processes cannot reproduce bit for bit; without it one process and N agree."""

import os

import torch

from cgan_train.cli import train_main

if os.environ.get("CGAN_TEST_NO_DROPOUT") == "1":
    torch.nn.Dropout.forward = lambda self, x: x

if __name__ == "__main__":
    train_main()
