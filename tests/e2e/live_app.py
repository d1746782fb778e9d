"""Run the real app as `make run` does: gunicorn + huey_consumer on a private SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveApp:
    """Web and worker processes in development mode; stopped by `stop()`."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sim_port = _free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.env = {
            **os.environ,
            "ASTRONOTE_ENV": "development",
            "DATABASE_URL": f"sqlite:///{workdir / 'live.db'}",
            "HUEY_SQLITE_PATH": str(workdir / "huey.db"),
            "PORT": str(self.port),
            "MITTO_API_BASE": self.sim_url,
        }
        self.env.pop("HUEY_IMMEDIATE", None)
        self.processes: list[subprocess.Popen] = []

    def _run(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        self.processes.append(
            subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def start(self) -> LiveApp:
        self._run("-m", "flask", "--app", "wsgi", "db", "upgrade")
        self._run("-m", "flask", "--app", "wsgi", "astronote", "seed-demo", "--contacts", "25")
        self._spawn(
            "web",
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "wsgi:app",
        )
        self._spawn(
            "worker",
            "-m",
            "huey.bin.huey_consumer",
            "astronote.worker.huey",
            "--workers",
            "2",
            "--worker-type",
            "thread",
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("live app did not become ready:\n" + self.logs())

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.workdir.glob("*.log"))

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()
