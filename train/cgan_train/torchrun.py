"""`python -m cgan_train.torchrun ARGS`: torchrun itself, its SIGTERM and Ctrl-C said in one line.

Takes torchrun's arguments unchanged (`python -m cgan_train.torchrun --standalone
--nproc-per-node 4 $(which cgan-train) ...`). torchrun answers SIGTERM, the signal job
schedulers and `kill` send, with a 31-line traceback of its own `SignalException` and
exit 1; here the launcher stops its processes as torchrun does, then prints
"cgan-train: error: terminated" and exits 143 (130 and "interrupted" for Ctrl-C).
"""

from __future__ import annotations

import logging
import signal

from cgan_runtime.commands.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, fail

PROG = "cgan-train"
# torchrun's warnings as it stops ("Received Signals.SIGTERM death signal", "Sending process N
# closing signal SIGTERM"): the one line below says it. Its errors still show.
_TORCHRUN_LOGGERS = "torch.distributed.elastic"


def main() -> None:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import main as torchrun

    for name, logger in list(logging.root.manager.loggerDict.items()):  # each has its own level, set at import
        if name.startswith(_TORCHRUN_LOGGERS) and isinstance(logger, logging.Logger):
            logger.setLevel(logging.ERROR)
    try:
        torchrun()
    except SignalException as exc:
        if exc.sigval == signal.SIGINT:
            fail(PROG, "interrupted", EXIT_INTERRUPTED)
        fail(PROG, "terminated", EXIT_TERMINATED)
    except KeyboardInterrupt:
        fail(PROG, "interrupted", EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
