"""`make run`'s first step: refuse a busy port before migrating, seeding or starting
anything, and name the variable to change.

    python -m astronote.devtools.ports PORT=8000 MITTO_SIM_PORT=8025
"""

from __future__ import annotations

import errno
import socket
import sys

HOST = "127.0.0.1"  # where Procfile.dev binds the web server and the simulator
ROLES = {"PORT": "the web server", "MITTO_SIM_PORT": "the Mitto simulator"}


def is_busy(port: int, host: str = HOST) -> bool:
    """Can a server listen here? SO_REUSEADDR as gunicorn sets it, so a closed
    connection still in TIME_WAIT is not mistaken for a listener."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def problems(ports: dict[str, str], host: str = HOST) -> list[str]:
    """One sentence per unusable port, naming its variable; empty when all are free."""
    found = []
    for name, raw in ports.items():
        role = ROLES.get(name, "a process")
        if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 65536:
            found.append(f"{name}={raw!r} ({role}) is not a port number (1-65535).")
        elif is_busy(int(raw), host):
            found.append(
                f"Port {raw} ({name}, {role}) is already in use on {host}. Stop the "
                f"program using it, or choose another: make run {name}=<free port>"
            )
    return found


def main(argv: list[str]) -> int:
    ports = dict(arg.split("=", 1) for arg in argv if "=" in arg)
    found = problems(ports)
    for sentence in found:
        print(f"make run: {sentence}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
