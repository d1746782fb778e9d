"""Start real, throwaway PostgreSQL and Redis servers on loopback for tests.

Why real servers: the app relies on PostgreSQL-only SQL and on Redis
semantics (huey queues, rate limits) that SQLite and fakeredis do not
reproduce faithfully, so the suite needs the genuine article.  Each server
lives in its own private directory, listens on a free port on 127.0.0.1 only
and is torn down by ``stop()`` (idempotent, also registered with ``atexit``
as a safety net so an aborted test run does not leave processes behind).

Missing binaries raise ``RuntimeError`` with an install hint; nothing here
ever skips, so CI cannot silently go green without the servers.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self, TypeVar

import psycopg
import redis

__all__ = [
    "PortInUseError",
    "PostgresServer",
    "RedisServer",
    "RunningServer",
    "free_port",
    "postgres_bindir",
    "redis_binary",
    "start_postgres",
    "start_redis",
]

HOST = "127.0.0.1"
DATABASE = "astronote_test"
PG_SUPERUSER = "postgres"
STARTUP_TIMEOUT = 30.0
PORT_ATTEMPTS = 3
# sun_path is 108 bytes on Linux; PostgreSQL refuses longer socket paths.
MAX_SOCKET_PATH = 100

PG_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "max_connections": "100",
    # Durability is pointless for throwaway test data; skipping it is faster.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


# ---------------------------------------------------------------- helpers


class PortInUseError(RuntimeError):
    """The chosen port was grabbed by someone else; retry with a new one."""


def free_port() -> int:
    """Ask the kernel for an unused loopback port (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1):
    """Poll until `predicate()` is truthy and return its value; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _port_is_open(port: int) -> bool:
    """True when something accepts TCP connections on HOST:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


def _log_tail(path: Path, lines: int = 40) -> str:
    """Last lines of a server log, so start-up failures explain themselves."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _clean_env() -> dict[str, str]:
    """Environment without PG* variables that could redirect the tools."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _is_root() -> bool:
    """PostgreSQL refuses to run as root, so root needs a user switch."""
    return os.geteuid() == 0


# ---------------------------------------------------------------- base class


class RunningServer:
    """A server process owned by the test run.

    Public attributes: ``name``, ``port``, ``url``, ``directory`` (private
    working directory, removed by ``stop()``) and ``log_path``.
    """

    name = "server"

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self._running = False
        self._stopped = False
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        """Connection URL for the application under test."""
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        """Where the server writes its log."""
        return self.directory / f"{self.name}.log"

    # Subclasses implement the process-level start/kill.
    def _launch(self) -> None:
        raise NotImplementedError

    def _halt(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        """Start the process (on the same port) and wait until it answers."""
        if self._stopped:
            raise RuntimeError(f"{self.name} on port {self.port} was stopped for good")
        if not self._running:
            self._launch()
            self._running = True
        return self

    def halt(self) -> None:
        """Stop the process but keep its directory and port, for restart().

        Always asks the subclass to halt (each _halt is idempotent) so a
        half-started process is cleaned up too.
        """
        self._running = False
        self._halt()

    def restart(self) -> Self:
        """Stop then start again on the same port (simulates a blip)."""
        self.halt()
        return self.start()

    @contextlib.contextmanager
    def outage(self) -> Iterator[Self]:
        """Keep the server down inside the block, bring it back afterwards."""
        self.halt()
        try:
            yield self
        finally:
            self.start()

    def stop(self) -> None:
        """Shut down for good and delete the directory; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.halt()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
            atexit.unregister(self.stop)

    def _fail(self, message: str) -> RuntimeError:
        """Build an error carrying the log tail; cleans up first.

        A port lost to another process between free_port() and start-up is
        reported as PortInUseError so the start_* helpers can retry.
        """
        tail = _log_tail(self.log_path)
        self.stop()
        error = PortInUseError if "already in use" in tail else RuntimeError
        return error(f"{message}\n--- {self.log_path} (tail) ---\n{tail}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} running={self._running}>"


ServerT = TypeVar("ServerT", bound=RunningServer)


# ---------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path:
    """Directory holding initdb/pg_ctl, or a RuntimeError saying how to get it.

    Debian keeps them out of PATH (/usr/lib/postgresql/<ver>/bin), so ask
    pg_config first, then glob, newest version first, then PATH.
    """
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(
            ["pg_config", "--bindir"],
            capture_output=True,
            text=True,
            check=False,
        )
        candidates.append(Path(out.stdout.strip()))
    found = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(map(Path, found), key=_pg_version, reverse=True)
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found via pg_config, "
        "/usr/lib/postgresql/*/bin or PATH. Install them with: "
        "apt-get install -y postgresql"
    )


def _pg_version(bindir: Path) -> float:
    """Numeric version from /usr/lib/postgresql/<ver>/bin, for sorting."""
    try:
        return float(bindir.parent.name)
    except ValueError:
        return 0.0


def _as_postgres(cmd: list[str]) -> list[str]:
    """Wrap cmd so it runs as the postgres user when we are root."""
    if not _is_root():
        return cmd
    try:
        pwd.getpwnam(PG_SUPERUSER)
    except KeyError:
        raise RuntimeError(
            "Running as root, but there is no 'postgres' system user to run "
            "PostgreSQL as (it refuses root). Install the postgresql package "
            "(it creates the user) or run the tests as a normal user."
        ) from None
    if shutil.which("runuser"):
        return ["runuser", "-u", PG_SUPERUSER, "--", *cmd]
    return ["su", PG_SUPERUSER, "-s", "/bin/sh", "-c", shlex.join(cmd)]


def _pg_workdir(base_dir: Path) -> Path:
    """A directory the postgres user can own, with a short socket path.

    Why not always base_dir: as root, pytest's tmp_path lives under a 0700
    /tmp/pytest-of-root that the postgres user cannot enter, and deep paths
    overflow the unix socket name limit.  Fall back to the system temp dir.
    """
    for parent in (Path(base_dir), Path(tempfile.gettempdir()), Path("/tmp")):
        parent.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="pg-", dir=parent))
        if _usable_by_postgres(workdir):
            return workdir
        shutil.rmtree(workdir, ignore_errors=True)
    raise RuntimeError(
        f"No directory usable by the postgres user under {base_dir} or the "
        "system temp dir (check permissions, or shorten the path)."
    )


def _usable_by_postgres(workdir: Path) -> bool:
    """Chown to postgres if root, then check access and socket path length."""
    if len(str(workdir / ".s.PGSQL.65535")) > MAX_SOCKET_PATH:
        return False
    if not _is_root():
        return True
    shutil.chown(workdir, user=PG_SUPERUSER, group=None)
    check = subprocess.run(
        _as_postgres(["test", "-w", str(workdir), "-a", "-x", str(workdir)]),
        capture_output=True,
        check=False,
    )
    return check.returncode == 0


def _kill_postmaster(pid_file: Path) -> None:
    """Last resort: immediate shutdown (SIGQUIT) of a postmaster still alive."""
    try:
        pid = int(pid_file.read_text().split()[0])
        # A stale pid file may name a recycled pid: only signal a postgres.
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return
        os.kill(pid, signal.SIGQUIT)
    except (OSError, ValueError, IndexError):
        return  # already gone, or no readable pid: nothing left to stop
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    """True while a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresServer(RunningServer):
    """A private PostgreSQL cluster (initdb'd once, restartable)."""

    name = "postgres"

    def __init__(self, directory: Path, port: int, bindir: Path) -> None:
        super().__init__(directory, port)
        self.bindir = bindir
        self.data_dir = directory / "data"
        self.database = DATABASE

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the test database (psycopg 3 driver)."""
        return f"postgresql+psycopg://{PG_SUPERUSER}@{HOST}:{self.port}/{self.database}"

    @property
    def conninfo(self) -> str:
        """libpq conninfo of the test database, for psycopg.connect()."""
        return self.dsn(self.database)

    def dsn(self, dbname: str) -> str:
        """libpq conninfo for any database on this server."""
        return f"host={HOST} port={self.port} user={PG_SUPERUSER} dbname={dbname}"

    def _run(self, *cmd: str, timeout: float = 60) -> None:
        """Run a PostgreSQL tool as the right user; raise with its output."""
        argv = _as_postgres([str(self.bindir / cmd[0]), *cmd[1:]])
        result = subprocess.run(
            argv,
            cwd=self.directory,  # the postgres user may not be able to read cwd
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise self._fail(
                f"{shlex.join(argv)} failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )

    def initdb(self) -> None:
        """Create the cluster with trust auth and fast, non-durable settings."""
        self._run(
            "initdb",
            *("-D", str(self.data_dir), "-U", PG_SUPERUSER),
            *("--auth=trust", "--encoding=UTF8", "--locale=C"),
            *("--no-sync", "--no-instructions"),
        )
        settings = {
            **PG_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": f"'{self.directory}'",
        }
        lines = [f"{key} = {value}" for key, value in settings.items()]
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# astronote test settings\n" + "\n".join(lines) + "\n")

    def _launch(self) -> None:
        if _port_is_open(self.port):
            raise PortInUseError(f"port {self.port} is already in use")
        self._run(
            "pg_ctl",
            *("start", "-w", "-t", str(int(STARTUP_TIMEOUT))),
            *("-D", str(self.data_dir), "-l", str(self.log_path)),
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Poll with a real libpq connection; pg_ctl -w alone is not enough."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                error = exc
                time.sleep(0.05)
        raise self._fail(
            f"PostgreSQL on port {self.port} did not accept connections: {error}",
        )

    def _halt(self) -> None:
        """pg_ctl stop -m fast; SIGQUIT the postmaster if that did not work."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        argv = [str(self.bindir / "pg_ctl"), "stop", "-m", "fast", "-w"]
        subprocess.run(
            _as_postgres([*argv, "-D", str(self.data_dir)]),
            cwd=self.directory,
            env=_clean_env(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        _kill_postmaster(pid_file)

    def create_database(self, name: str) -> None:
        """CREATE DATABASE (needs autocommit: it cannot run in a transaction)."""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')


def start_postgres(base_dir: Path) -> PostgresServer:
    """initdb + start a private PostgreSQL and create the astronote_test DB."""
    bindir = postgres_bindir()
    return _with_port_retries(lambda: _start_postgres_once(Path(base_dir), bindir))


def _start_postgres_once(base_dir: Path, bindir: Path) -> PostgresServer:
    """One start attempt on one free port; cleans up on any failure."""
    server = PostgresServer(_pg_workdir(base_dir), free_port(), bindir)
    try:
        server.initdb()
        server.start()
        server.create_database(DATABASE)
    except BaseException:
        server.stop()
        raise
    return server


def _with_port_retries(start: Callable[[], ServerT]) -> ServerT:
    """Retry when the free port was stolen before the server could bind it."""
    for _ in range(PORT_ATTEMPTS - 1):
        with contextlib.suppress(PortInUseError):
            return start()
    return start()


# ---------------------------------------------------------------- Redis


def redis_binary() -> str:
    """Path of redis-server, or a RuntimeError saying how to install it."""
    found = shutil.which("redis-server")
    for path in (found, "/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if path and os.access(path, os.X_OK):
            return path
    hint = "Install it with: apt-get install -y redis-server"
    raise RuntimeError(f"redis-server not found on PATH. {hint}")


class RedisServer(RunningServer):
    """A private, non-persistent redis-server child process."""

    name = "redis"

    def __init__(self, directory: Path, port: int, binary: str) -> None:
        super().__init__(directory, port)
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """redis-py URL of database 0."""
        return f"redis://{HOST}:{self.port}/0"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client for this server."""
        return redis.Redis(host=HOST, port=self.port, **kwargs)

    def _launch(self) -> None:
        if _port_is_open(self.port):
            raise PortInUseError(f"port {self.port} is already in use")
        argv = [
            self.binary,
            *("--port", str(self.port), "--bind", HOST),
            *("--save", "", "--appendonly", "no"),
            *("--dir", str(self.directory), "--daemonize", "no", "--logfile", ""),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Poll PING until it answers, failing fast if the process died."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        error: Exception | None = None
        client = self.client(socket_connect_timeout=0.5, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    code = self.process.returncode
                    raise self._fail(
                        f"redis-server exited with code {code} on start-up",
                    )
                try:
                    if client.ping():
                        return
                except redis.RedisError as exc:
                    error = exc
                time.sleep(0.02)
        finally:
            client.close()
        raise self._fail(
            f"redis-server on port {self.port} did not answer PING: {error}",
        )

    def _halt(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_redis(base_dir: Path) -> RedisServer:
    """Start a private redis-server with persistence disabled."""
    binary = redis_binary()
    return _with_port_retries(lambda: _start_redis_once(Path(base_dir), binary))


def _start_redis_once(base_dir: Path, binary: str) -> RedisServer:
    """One start attempt on one free port; cleans up on any failure."""
    base_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="redis-", dir=base_dir))
    server = RedisServer(directory, free_port(), binary)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
