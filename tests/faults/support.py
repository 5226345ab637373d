"""What the fault-injection tests need to break things for real.

- ``Worker``: a real ``celery -A gluey worker`` subprocess against the test
  database, which a test can ``kill -9`` (the whole worker, or only its pool
  child) and start again;
- ``PrivateRedis``: a redis-server of our own on a free port, so a test can
  stop and restart a broker without touching the shared one;
- ``broker_switched``: point this process's Celery app at another broker;
- ``RowLock``: hold row locks from a separate connection, so a worker's
  recording transaction blocks at a known point (proof it is mid-batch);
- ``database_outage``: drop every session of the test database and refuse new
  ones for a while (what clients see when PostgreSQL restarts), or, when
  ``GLUEY_FAULTS_RESTART_POSTGRES=1``, restart the cluster itself;
- ``HookedReceiver``: a webhook receiver that runs a hook (e.g. kill the
  sender) while request number N waits for its answer;
- ``feed_settled``: wait until the feed horizon has passed every recorded event;
- ``SimulatedClock``: move the stored times of deliveries back instead of
  moving the clock forward, so a retry schedule of hours runs in milliseconds;
- ``deadline`` / ``wait_until``: every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Self
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")
WORKER_SETTINGS = "tests.faults.worker_settings"


class DeadlineExceeded(AssertionError):
    pass


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str | Callable[[], str], interval: float = 0.05
) -> None:
    """Poll ``predicate`` until it holds; fail the test naming ``what`` after ``timeout`` seconds.

    ``what`` may be a function, called only on failure (for diagnostics that cost time or disturb).
    """
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(interval)
    if not predicate():
        raise DeadlineExceeded(f"gave up after {timeout:g} s waiting for {what() if callable(what) else what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Database -----------------------------------------------------------------------------


def database_url() -> str:
    """A DATABASE_URL for the database this test process uses (the test database)."""
    from django.db import connection

    db = connection.settings_dict
    user = quote(db.get("USER") or "postgres", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def admin_connection(dbname: str | None = None):
    """A psycopg2 connection of our own (autocommit), to the test database or another one."""
    import psycopg2
    from django.db import connection

    db = connection.settings_dict
    conn = psycopg2.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname=dbname or db["NAME"],
        connect_timeout=5,
    )
    conn.autocommit = True
    return conn


def backends_waiting_on_locks() -> set[int]:
    """Backend pids of the test database waiting for a lock right now."""
    from django.db import connection

    with contextlib.closing(admin_connection("postgres")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            [connection.settings_dict["NAME"]],
        )
        return {row[0] for row in cur.fetchall()}


def database_activity() -> str:
    """The test database's sessions and ungranted locks right now (for failure messages)."""
    from django.db import connection

    with contextlib.closing(admin_connection("postgres")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT pid, state, wait_event_type, wait_event, clock_timestamp() - query_start, left(query, 120) "
            "FROM pg_stat_activity WHERE datname = %s ORDER BY pid",
            [connection.settings_dict["NAME"]],
        )
        rows = [" | ".join(str(v) for v in row) for row in cur.fetchall()]
        cur.execute("SELECT pid, locktype, mode, relation::regclass::text FROM pg_locks WHERE NOT granted")
        rows += [f"waiting for a lock: {row}" for row in cur.fetchall()]
        return "\n".join(rows)


def feed_settled(timeout: float = 300.0) -> None:
    """Wait until every recorded event is below the feed horizon (PostgreSQL only).

    The feed and the exports read only transactions older than every one still
    running anywhere in the cluster (tracking.selectors): on a shared server an
    unrelated transaction in another database holds them back for as long as it
    runs, e.g. another suite's minute-long test in its transaction (hence the
    generous bound; the failure names the transaction that held it).
    """
    from django.db import connection
    from django.db.models import Max

    from tracking.models import TrackingEvent

    if connection.vendor != "postgresql":
        return
    latest = TrackingEvent.objects.aggregate(Max("txid"))["txid__max"]
    if latest is None:
        return

    def above() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            return cursor.fetchone()[0] > latest

    def holder() -> str:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT datname, pid, (now() - xact_start)::text, left(query, 80) FROM pg_stat_activity"
                " WHERE backend_xid IS NOT NULL ORDER BY age(backend_xid) DESC LIMIT 1"
            )
            row = cursor.fetchone()
        return f"the feed horizon to pass the last recorded event (held by {row or 'no transaction now'})"

    wait_until(above, timeout, holder)


class RowLock:
    """``SELECT … FOR UPDATE`` from a connection of our own, held until ``release``."""

    def __init__(self, table: str, ids: list[int]) -> None:
        self.conn = admin_connection()
        self.conn.autocommit = False
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids])
            self.locked = len(cur.fetchall())

    def release(self) -> None:
        if self.conn.closed:
            return
        self.conn.rollback()
        self.conn.close()


def _pg_cluster() -> str:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or not shutil.which("pg_ctlcluster"):
        raise RuntimeError("pg_ctlcluster and /etc/postgresql/<version> are needed to restart PostgreSQL")
    return versions[-1]


def _pg_ready(timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            admin_connection("postgres").close()
            return True
        except Exception:  # noqa: BLE001 - not accepting connections yet
            time.sleep(0.2)
    return False


def restart_postgres_allowed() -> bool:
    """A real cluster restart drops every other user's sessions too: only when asked for."""
    return os.environ.get("GLUEY_FAULTS_RESTART_POSTGRES", "") == "1"


@contextlib.contextmanager
def database_outage() -> Iterator[str]:
    """While inside: the test database has no sessions and accepts none. Yields the kind of outage.

    By default only the test database goes away: every session is terminated
    and new connections are refused (``ALLOW_CONNECTIONS false``), which is
    what clients see of a restart. With ``GLUEY_FAULTS_RESTART_POSTGRES=1``
    the cluster is stopped on entry and started on exit instead. Either way
    PostgreSQL is running again when the block ends, even if it raised.
    """
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if restart_postgres_allowed():
        cluster = _pg_cluster()
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main"]
        subprocess.run([*command, "stop", "-m", "fast"], check=True, timeout=60)
        try:
            yield "cluster restart"
        finally:
            subprocess.run([*command, "start"], check=False, timeout=60)
            if not _pg_ready(60):
                raise RuntimeError("PostgreSQL did not come back within 60 s")
        return
    with contextlib.closing(admin_connection("postgres")) as admin, admin.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            yield "every session of the test database terminated, new ones refused"
        finally:
            cur.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


# --- Broker ---------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of our own: no persistence, so a restart loses every queued message."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(self.ping, 10, f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; whatever was queued is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()


@contextlib.contextmanager
def broker_switched(url: str) -> Iterator[None]:
    """Publish this process's Celery tasks to ``url`` while inside (the shared broker is untouched)."""
    from gluey.celery import app

    def reset() -> None:
        # Forget the pools, never close them: kombu keeps one per broker URL for the whole process.
        app._pool = None  # type: ignore[attr-defined]  # private, not in celery-types
        app.amqp._producer_pool = None  # type: ignore[attr-defined]

    # broker_url itself loses to the CELERY_BROKER_URL environment variable; the
    # read and write URLs take precedence over both.
    old = {key: app.conf.get(key) for key in ("broker_read_url", "broker_write_url", "broker_transport_options")}
    reset()
    app.conf.update(broker_read_url=url, broker_write_url=url, broker_transport_options={"visibility_timeout": 3600})
    try:
        yield
    finally:
        reset()
        app.conf.update(old)


def purge_queues(*queues: str) -> None:
    """Drop messages a previous (interrupted) run left in the broker's queues."""
    from gluey.celery import app

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in queues:
            with contextlib.suppress(Exception):
                channel.queue_purge(queue)  # type: ignore[attr-defined]  # every kombu channel has it; StdChannel omits it


# --- Workers ---------------------------------------------------------------------------------


def worker_env(*, broker_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a worker subprocess: this test's database, broker and secrets."""
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url or settings.CELERY_BROKER_URL,
            # The same keys as this process, so both sides read each other's encrypted columns.
            "SECRET_KEY": settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "GLUEY_VAR_DIR": str(settings.VAR_DIR),
            "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
            "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": "INFO",
            "LOG_JSON": "false",
        }
    )
    env.update(extra)
    return env


class Worker:
    """One ``celery -A gluey worker`` subprocess; its output is kept for failure messages."""

    def __init__(
        self,
        queues: list[str],
        env: dict[str, str],
        *,
        pool: str = "prefork",
        concurrency: int = 1,
        name: str = "faults",
    ) -> None:
        self.argv = [
            CELERY,
            "-A",
            "gluey",
            "worker",
            "-Q",
            ",".join(queues),
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "-n",
            f"{name}-{os.getpid()}-{time.monotonic_ns()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ]
        self.env = env
        self.process: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 45) -> Worker:
        self.lines = []
        self.process = process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        try:
            wait_until(lambda: self.ready or process.poll() is not None, timeout, "the worker to be ready")
        except DeadlineExceeded:
            self.kill9()
            raise DeadlineExceeded(f"worker not ready after {timeout} s:\n{self.output()}") from None
        if not self.ready:
            raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.output()}")
        return self

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def ready(self) -> bool:
        return any(" ready." in line for line in list(self.lines))

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def children(self) -> list[int]:
        found: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                found.extend(int(p) for p in (task / "children").read_text().split())
        return found

    def kill9(self) -> None:
        """SIGKILL the worker and everything it started: nothing gets to clean up or ack."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def kill9_pool_child(self) -> int:
        """SIGKILL the prefork child running the task; the parent stays up and starts another."""
        children = self.children()
        assert children, f"the worker has no pool child to kill:\n{self.output()}"
        os.kill(children[0], signal.SIGKILL)
        return children[0]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill9()

    def output(self, last: int = 150) -> str:
        return "\n".join(self.lines[-last:])

    def stacks(self) -> str:
        """What every process of the worker is doing (worker_settings dumps the stacks on SIGUSR2)."""
        if self.process is None or self.process.poll() is not None:
            return "(the worker is not running)"
        before = len(self.lines)
        for pid in [self.pid, *self.children()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR2)
        time.sleep(2)
        return "\n".join(self.lines[before:])


# --- A receiver that acts while a request waits ---------------------------------------------


class HookedReceiver:
    """HTTP receiver on 127.0.0.1 that answers 200 to everything and records each request.

    ``hooks[n]`` runs inside the handler of the n-th request (1-based) before the
    answer is sent, so whatever it does — kill the sender — happens while that
    request is certainly in flight.
    """

    def __init__(self) -> None:
        import http.server

        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.hooks: dict[int, Callable[[], None]] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # http.server's name for it
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with outer._lock:
                    outer.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    hook = outer.hooks.pop(len(outer.requests), None)
                if hook is not None:
                    hook()
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("content-length", "0")
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Simulated clock ---------------------------------------------------------------------------


class SimulatedClock:
    """Let ``seconds`` pass for the delivery machinery without waiting for them.

    The services read the real clock, so instead of moving the clock forward
    every stored time they compare against moves back by the same amount.
    ``elapsed`` is how much simulated time has passed.
    """

    def __init__(self) -> None:
        self.elapsed = 0.0

    def advance(self, seconds: float) -> None:
        from django.db.models import F

        from notifications.models import Delivery, DeliveryAttempt, WebhookEndpoint

        delta = timedelta(seconds=seconds)
        Delivery.objects.update(
            created_at=F("created_at") - delta,
            next_attempt_at=F("next_attempt_at") - delta,
            deadline_at=F("deadline_at") - delta,
        )
        Delivery.objects.exclude(delivered_at=None).update(delivered_at=F("delivered_at") - delta)
        Delivery.objects.exclude(dead_at=None).update(dead_at=F("dead_at") - delta)
        DeliveryAttempt.objects.update(started_at=F("started_at") - delta)
        for field in ("retry_at", "failing_since", "last_failure_at", "last_success_at", "lease_until"):
            WebhookEndpoint.objects.exclude(**{field: None}).update(**{field: F(field) - delta})
        self.elapsed += seconds
