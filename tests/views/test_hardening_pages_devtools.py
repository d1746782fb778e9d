"""Issue #10, item 24: `make run` checks its ports first; Ctrl-C stops the worker gracefully."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from astronote.devtools import ports

ROOT = Path(__file__).resolve().parents[2]


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_port_check_names_the_busy_port_and_its_variable():
    with _listening() as busy:
        taken = busy.getsockname()[1]
        free = _free_port()
        found = ports.problems({"PORT": str(free), "MITTO_SIM_PORT": str(taken)})
        assert len(found) == 1
        assert f"Port {taken} (MITTO_SIM_PORT, the Mitto simulator) is already in use" in found[0]
        assert ports.problems({"PORT": str(taken)})[0].startswith(f"Port {taken} (PORT, the web")
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "astronote.devtools.ports",
                f"PORT={taken}",
                f"MITTO_SIM_PORT={free}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 1
    assert f"Port {taken} (PORT, the web server) is already in use" in run.stderr
    assert ports.problems({"PORT": str(free), "MITTO_SIM_PORT": str(taken)}) == []  # closed now
    assert "not a port number" in ports.problems({"PORT": "80x"})[0]
    assert "not a port number" in ports.problems({"PORT": "70000"})[0]


def test_make_run_checks_the_ports_before_migrating_or_announcing():
    plan = subprocess.run(
        ["make", "-n", "run", "PORT=8100", "MITTO_SIM_PORT=8125"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    check = plan.index("astronote.devtools.ports PORT=8100 MITTO_SIM_PORT=8125")
    assert check < plan.index("seed") < plan.index("starting on")
    assert "db upgrade" not in plan[:check]


WORKER = """
import signal, sys, time
out = open(sys.argv[1], "w")
def graceful(*_):
    out.write("SIGINT: finished the task in hand\\n"); out.flush(); sys.exit(0)
def abandon(*_):
    out.write("SIGTERM: abandoned the task\\n"); out.flush(); sys.exit(1)
signal.signal(signal.SIGINT, graceful)
signal.signal(signal.SIGTERM, abandon)
out.write("ready\\n"); out.flush()
time.sleep(60)
"""


def test_ctrl_c_under_honcho_reaches_the_worker_as_sigint_only(tmp_path):
    script, log = tmp_path / "worker.py", tmp_path / "signals.log"
    script.write_text(WORKER)
    wrapper = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "astronote.devtools.graceful",
            sys.executable,
            str(script),
            str(log),
        ],
        cwd=ROOT,
        start_new_session=True,  # as honcho starts each Procfile process
    )
    deadline = time.monotonic() + 30
    while "ready" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.05)
    os.killpg(wrapper.pid, signal.SIGTERM)  # what honcho does on Ctrl-C
    assert wrapper.wait(timeout=30) == 0
    assert log.read_text().splitlines()[1:] == ["SIGINT: finished the task in hand"]


def test_procfile_dev_runs_the_worker_through_the_graceful_wrapper():
    worker = next(
        line
        for line in (ROOT / "Procfile.dev").read_text().splitlines()
        if line.startswith("worker:")
    )
    assert "-m astronote.devtools.graceful .venv/bin/huey_consumer" in worker
    assert "--shutdown-timeout" in worker
