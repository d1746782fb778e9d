"""Run Astronote as a real cluster for the reliability suite.

What runs, all on loopback and all owned (and stopped) by `Cluster.stop()`:

* a gunicorn web server (gthread), which receives the simulator's delivery reports;
* N `huey_consumer` processes (thread workers) on a RedisHuey queue;
* one "control" process (`python -m tests.reliability.cluster`): the same code
  and environment as a worker, reading JSON commands on stdin. The test process
  itself runs with ASTRONOTE_ENV=test, so its `huey` is immediate; anything that
  must really go through Redis (fan-out, the reconcile sweeper) goes through the
  control process instead.

PostgreSQL, Redis and the Mitto simulator are started by the fixtures and only
passed in here as URLs.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """gunicorn + huey consumers + a control process, in development mode on Redis."""

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str,
        redis_url: str,
        mitto_base: str,
        web_port: int,
        webhook_secret: str,
        batch_size: int = 200,
        rate_limit: int = 100_000,
    ):
        self.workdir = workdir
        self.web_port = web_port
        self.url = f"http://127.0.0.1:{web_port}"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("ASTRONOTE_", "HUEY_", "RATE_LIMIT_", "MITTO_", "SMS_"))
        }
        env.update(
            {
                # development, not test: test forces Huey's immediate mode.
                "ASTRONOTE_ENV": "development",
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "MITTO_API_BASE": mitto_base,
                "MITTO_WEBHOOK_SECRET": webhook_secret,
                "SMS_BATCH_SIZE": str(batch_size),
                "RATE_LIMIT_TRAFFIC_ACCOUNT_MAX": str(rate_limit),
                "RATE_LIMIT_TENANT_MAX": str(rate_limit),
                "RATE_LIMIT_GLOBAL_MAX": str(rate_limit),
                "PORT": str(web_port),
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(ROOT),
            }
        )
        self.env = env
        self.workers: dict[str, subprocess.Popen] = {}
        self._processes: list[subprocess.Popen] = []
        self._control: subprocess.Popen | None = None
        self._worker_seq = 0

    # -- processes -------------------------------------------------------------
    def _spawn(self, name: str, args: list[str], **popen) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            stdout=popen.pop("stdout", log),
            stderr=log,
            **popen,
        )
        log.close()  # the child holds its own copy of the descriptor
        self._processes.append(process)
        return process

    def start(self, workers: int = 2, threads: int = 2) -> Cluster:
        try:
            self._spawn(
                "web",
                [
                    "-m",
                    "gunicorn",
                    "--bind",
                    f"127.0.0.1:{self.web_port}",
                    "--worker-class",
                    "gthread",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "wsgi:app",
                ],
            )
            for index in range(workers):
                self.start_worker(threads=threads, periodic=index == 0)
            self._control = self._spawn(
                "control",
                ["-m", "tests.reliability.cluster"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            self._wait_ready()
            self.command("ping", timeout=30)
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self, threads: int = 2, periodic: bool = False) -> str:
        """One more huey_consumer; only one of them should run the periodic tasks."""
        self._worker_seq += 1
        name = f"worker{self._worker_seq}"
        args = ["-m", "huey.bin.huey_consumer", "astronote.worker.huey"]
        args += ["-k", "thread", "-w", str(threads), "-d", "0.05", "-m", "0.25", "-b", "1.1"]
        if not periodic:
            args.append("-n")
        self.workers[name] = self._spawn(name, args)
        return name

    def kill_worker(self, name: str) -> None:
        """kill -9: no shutdown hook, no cleanup, the task in hand is simply gone."""
        process = self.workers.pop(name)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a cluster process exited early:\n{self.logs()}")
            try:
                if requests.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)
        raise RuntimeError("the cluster did not become ready:\n" + self.logs())

    # -- control process -------------------------------------------------------
    def command(self, op: str, timeout: float = 60.0, **args) -> object:
        """Run one command in the control process; raise with its traceback on error."""
        control = self._control
        if control is None or control.poll() is not None:
            raise RuntimeError("control process is not running:\n" + self.logs())
        control.stdin.write(json.dumps({"op": op, **args}) + "\n")
        control.stdin.flush()
        ready, _, _ = select.select([control.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"control command {op} took more than {timeout}s")
        line = control.stdout.readline()
        if not line:
            raise RuntimeError("control process died:\n" + self.logs())
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(f"control command {op} failed:\n{reply['trace']}")
        return reply["result"]

    def fan_out(self, campaign_id: int) -> int:
        """`tasks.campaigns.fan_out`, enqueueing send_batch tasks on the real Redis queue."""
        return self.command("fan_out", campaign_id=campaign_id)

    def repair(self, stale_seconds: float, idle_seconds: float) -> dict:
        """The body of the periodic `reconcile_sending`, with compressed time limits."""
        return self.command("repair", stale=stale_seconds, idle=idle_seconds)

    # -- teardown --------------------------------------------------------------
    def logs(self, tail: int = 4000) -> str:
        parts = []
        for path in sorted(self.workdir.glob("*.log")):
            parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def log_text(self, name_prefix: str = "") -> str:
        return "\n".join(
            path.read_text(errors="replace")
            for path in sorted(self.workdir.glob(f"{name_prefix}*.log"))
        )

    def stop(self) -> None:
        if self._control is not None and self._control.poll() is None:
            with contextlib.suppress(OSError):
                self._control.stdin.close()
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        self._processes.clear()
        self.workers.clear()
        self._control = None


# -- the control process -----------------------------------------------------------


def _stale_counts(stale_seconds: float) -> dict:
    from datetime import timedelta

    from sqlalchemy import func, select

    from astronote.extensions import db
    from astronote.models import Message, MessageStatus, now_utc

    cutoff = now_utc() - timedelta(seconds=stale_seconds)
    rows = db.session.execute(
        select(Message.status, func.count())
        .where(
            Message.status.in_([MessageStatus.CLAIMED, MessageStatus.SUBMITTING]),
            Message.claimed_at < cutoff,
        )
        .group_by(Message.status)
    ).all()
    db.session.rollback()
    return {status: count for status, count in rows}


def _control_main() -> int:
    """Read JSON commands on stdin, answer one JSON line each on the original stdout."""
    import traceback
    from datetime import timedelta

    replies = sys.stdout
    sys.stdout = sys.stderr  # the app logs to stdout: keep the reply channel clean

    from astronote.extensions import db
    from astronote.tasks import campaigns as campaign_tasks
    from astronote.worker import app

    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            with app.app_context():
                op = command["op"]
                if op == "ping":
                    result = "pong"
                elif op == "fan_out":
                    result = campaign_tasks.fan_out(command["campaign_id"])
                elif op == "repair":
                    stale = _stale_counts(command["stale"])
                    campaign_tasks.STALE_CLAIM = timedelta(seconds=command["stale"])
                    campaign_tasks.IDLE = timedelta(seconds=command["idle"])
                    active = campaign_tasks.reconcile_sending.call_local()
                    result = {"stale": stale, "active": active}
                else:
                    raise ValueError(f"unknown op {op!r}")
                db.session.remove()
            reply = {"ok": True, "result": result}
        except Exception as exc:
            reply = {"ok": False, "error": repr(exc), "trace": traceback.format_exc()}
        replies.write(json.dumps(reply, default=str) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_control_main())
