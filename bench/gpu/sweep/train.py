"""cgan-train, plus a copy of last.pt every SNAP_EVERY epochs, to score the curve afterwards.

The copy is made after the epoch's own writes; training itself is cgan-train's, unchanged.
"""
import os, shutil, sys
from cgan_train import trainer

every = int(os.environ.get("SNAP_EVERY", "10"))
_end_epoch = trainer.end_epoch

def end_epoch(cfg, models, run, position, epoch_number, *rest):
    _end_epoch(cfg, models, run, position, epoch_number, *rest)
    if epoch_number % every == 0:
        shutil.copyfile(run.last, run.last.with_name(f"epoch{epoch_number:03d}.pt"))

trainer.end_epoch = end_epoch
from cgan_train.cli import train_main
sys.argv = ["cgan-train", *sys.argv[1:]]
train_main()
