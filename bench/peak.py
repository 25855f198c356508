"""Run one command and report its wall time and peak resident memory.

Usage: ``python -S peak.py RESULT_FILE COMMAND [ARG...]``. Writes
``{"exit": N, "wall_s": S, "maxrss_kb": K}`` to RESULT_FILE.

The peak comes from ``wait4`` on the one child this small process forks.
Linux carries the pre-``exec`` peak of the forked process over to the
command, so it must be forked from a small process: this one (about 8 MB,
below any Python program measured) rather than the benchmark itself.
"""

import json
import os
import sys
import time


def main() -> None:
    out, argv = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    result = {
        "exit": os.waitstatus_to_exitcode(status),
        "wall_s": wall,
        "maxrss_kb": usage.ru_maxrss,
    }
    with open(out, "w") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
