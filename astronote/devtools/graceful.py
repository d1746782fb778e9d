"""Run the Huey worker under `make run` so Ctrl-C lets it finish the task in hand.

On Ctrl-C honcho sends SIGTERM to each process group, then SIGKILL five seconds later.
SIGTERM makes huey_consumer abandon its running tasks; SIGINT is its graceful shutdown.
So the worker runs in a session of its own, out of reach of both, and this wrapper
turns the first SIGTERM or SIGINT into one SIGINT for it. If honcho then kills the
wrapper, the worker still finishes (bounded by its --shutdown-timeout), and honcho waits
for it: the worker keeps the output pipe open until it exits.

    python -m astronote.devtools.graceful huey_consumer astronote.worker.huey ...
"""

from __future__ import annotations

import signal
import subprocess
import sys


def run(command: list[str]) -> int:
    child = subprocess.Popen(command, start_new_session=True)
    forwarded = False

    def _stop(signum, frame):
        nonlocal forwarded
        if not forwarded:  # a second SIGINT would make Huey interrupt its tasks after all
            forwarded = True
            print("worker: finishing the task in hand, then stopping", file=sys.stderr)
            child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return child.wait()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m astronote.devtools.graceful COMMAND [ARG...]")
    sys.exit(run(sys.argv[1:]))
