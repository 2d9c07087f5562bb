"""Run commands interleaved and print each run's wall time and peak RSS, as JSON.

Usage: python -S -I launch.py < {"commands": [[argv...], ...], "rounds": N, "env": {...}, "log": PATH}
Output: one list per command of [seconds, peak_rss_bytes] per round.

A separate, stdlib-only process on purpose: Linux charges a child's ru_maxrss
with the memory of the process that spawned it (the parent's address space
is the child's until exec), so children spawned by a benchmark that has torch
loaded would all report its ~650 MB. Started with -S -I, this launcher stays
under 10 MB (stdlib json, os, time only), below the smallest command it measures. The order rotates each
round so a burst of load hits every command alike.
"""

import json
import os
import sys
import time


def run(argv, env, log):
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        with open(log, errors="replace") as f:
            sys.exit(f"{' '.join(argv)} exited {code}:\n{f.read()}")
    return [seconds, usage.ru_maxrss * 1024]  # ru_maxrss is in KiB


def main():
    job = json.load(sys.stdin)
    commands = job["commands"]
    samples = [[] for _ in commands]
    for round_ in range(job["rounds"]):
        order = list(range(len(commands)))
        shift = round_ % len(order)
        for i in order[shift:] + order[:shift]:
            samples[i].append(run(commands[i], job["env"], job["log"]))
    json.dump(samples, sys.stdout)


main()
