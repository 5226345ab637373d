"""Shared helpers for bench/run_all.py: services, the real stack, load tools, results.

- ``ensure_postgres`` / ``ensure_redis`` / ``recreate_database``: the services a run needs;
- ``stack_env`` and ``Stack``: gunicorn, Celery workers, one beat, the carrier
  simulator and a customer receiver as subprocesses, each in its own process
  group so ``stop`` takes its children too;
- ``run_bench``: run one ``bench/*.py`` as a subprocess, keep its output in a
  log, and return the JSON object on its last line;
- ``http_load``: latency percentiles and throughput of one request, with
  ``wrk`` (installed with apt when missing and possible) or, failing that, a
  small Python load generator;
- ``machine``: what the figures were measured on.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def settle_tables(tables: tuple[str, ...], *, label: str) -> None:
    """Vacuum (and analyze) ``tables`` and checkpoint, then wait, up to a minute, until the CPUs
    are at least 85 % idle over a second: what a phase measures is then its own load, on tables
    as autovacuum keeps them in production, not the dead rows and index entries an earlier phase
    or benchmark left (where autovacuum is off, as on the CI machine's PostgreSQL, nothing else
    removes them), nor autovacuum or the tail of their work."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("CHECKPOINT")
    cpu_idle_wait(label=label)


def cpu_idle_wait(*, label: str) -> None:
    """Wait, up to a minute, until the CPUs are at least 85 % idle over a second."""
    deadline = time.monotonic() + 60
    idle = 0.0
    while time.monotonic() < deadline:
        idle = cpu_idle(1.0)
        if idle >= 0.85:
            break
    log(f"{label}: CPUs {idle:.0%} idle before measuring")


def _cpu_ticks() -> list[int]:
    """The machine's CPU time so far by kind (user, nice, system, idle, iowait, …), in clock ticks."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def cpu_idle(seconds: float) -> float:
    """The machine's idle share over ``seconds`` (1.0 where /proc/stat is missing)."""

    def sample() -> tuple[int, int]:
        values = _cpu_ticks()
        return values[3] + values[4], sum(values)  # idle + iowait, total

    if not Path("/proc/stat").exists():
        return 1.0
    idle_before, total_before = sample()
    time.sleep(seconds)
    idle_after, total_after = sample()
    return (idle_after - idle_before) / max(1, total_after - total_before)


# Processes by name (/proc/<pid>/comm) → the part of the stack they are, for CpuMeter.
CPU_GROUPS = {"gunicorn": "web", "celery": "worker", "postgres": "postgres", "redis-server": "redis"}


def _cpu_by_group() -> dict[str, float]:
    """CPU seconds used so far by the live processes of each CPU_GROUPS group, the children this
    process has waited for (the load generator) as "client", and the machine's busy total."""
    import resource

    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = dict.fromkeys((*CPU_GROUPS.values(), "client", "busy"), 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        group = CPU_GROUPS.get(stat[stat.index("(") + 1 : stat.rindex(")")])
        if group:
            fields = stat[stat.rindex(")") + 2 :].split()
            used[group] += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used["client"] = children.ru_utime + children.ru_stime
    values = _cpu_ticks()
    used["busy"] = (sum(values[:8]) - values[3] - values[4]) / tick  # all but idle and iowait
    return used


class CpuMeter:
    """Where the machine's CPU went between ``start`` and ``per``: core-milliseconds per unit of work
    for the web tier, the worker, PostgreSQL, Redis, the load generator (a child process this one
    waited for) and the rest (the kernel's own threads, other processes). Linux only; elsewhere
    ``per`` gives an empty dict."""

    def __init__(self) -> None:
        self.before: dict[str, float] = {}

    def start(self) -> CpuMeter:
        self.before = _cpu_by_group() if Path("/proc/stat").exists() else {}
        return self

    def per(self, units: float) -> dict[str, float]:
        if not self.before or units <= 0:
            return {}
        after = _cpu_by_group()
        spent = {name: after[name] - self.before[name] for name in after}
        spent["other"] = max(0.0, spent["busy"] - sum(v for k, v in spent.items() if k != "busy"))
        return {name: round(1000 * seconds / units, 3) for name, seconds in spent.items()}


def cpu_line(figures: dict[str, float]) -> str:
    """``CpuMeter.per`` as one line: "web 2.40 + postgres 0.60 + … = 3.50 core-ms"."""
    if not figures:
        return "(CPU not measured on this system)"
    parts = [f"{name} {figures[name]:.2f}" for name in (*CPU_GROUPS.values(), "client", "other") if figures.get(name)]
    return " + ".join(parts) + f" = {figures['busy']:.2f} core-ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


# --- Services ---------------------------------------------------------------------------------


def _pg_params(url: str) -> dict[str, Any]:
    parsed = urlparse(url)
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "dbname": parsed.path.lstrip("/"),
    }


def ensure_postgres(url: str) -> str:
    """PostgreSQL answers at ``url``'s host, started with pg_ctlcluster if it was down. Returns its version."""
    import psycopg2

    params = {**_pg_params(url), "dbname": "postgres"}
    for attempt in range(2):
        try:
            with contextlib.closing(psycopg2.connect(connect_timeout=5, **params)) as conn, conn.cursor() as cur:
                cur.execute("SHOW server_version")
                return str(cur.fetchone()[0])
        except psycopg2.OperationalError:
            if attempt or not shutil.which("pg_ctlcluster") or not os.path.isdir("/etc/postgresql"):
                raise
            version = max(os.listdir("/etc/postgresql"))
            log(f"PostgreSQL is down: starting cluster {version}/main")
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)
            time.sleep(3)
    raise RuntimeError("unreachable")


def recreate_database(url: str) -> None:
    """Drop and create the run's own database (never a shared one: the caller picks a name for runs)."""
    import psycopg2

    params = _pg_params(url)
    name = params.pop("dbname")
    with contextlib.closing(psycopg2.connect(connect_timeout=5, **{**params, "dbname": "postgres"})) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cur.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg2

    params = _pg_params(url)
    name = params.pop("dbname")
    with contextlib.closing(psycopg2.connect(connect_timeout=5, **{**params, "dbname": "postgres"})) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')


def ensure_redis(url: str) -> str:
    """Redis answers at ``url``, started (on the default port only) if it was down. Returns its version."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        return str(client.info("server")["redis_version"])
    except redis.ConnectionError:
        parsed = urlparse(url)
        if (parsed.hostname, parsed.port or 6379) != ("127.0.0.1", 6379) or not shutil.which("redis-server"):
            raise
        log("Redis is down: starting it on 127.0.0.1:6379")
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                "/var/lib/redis",
                "--logfile",
                "/var/log/redis/ci.log",
            ],
            check=True,
        )
        time.sleep(1)
        return str(client.info("server")["redis_version"])


def ensure_wrk() -> str | None:
    """The wrk binary, installed from Debian's packages when missing and we may (root, apt); else None."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    log("wrk is missing: installing the Debian package")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args: str) -> int:
        return subprocess.run(
            ["apt-get", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        ).returncode

    if apt("install", "-y", "-qq", "wrk") != 0:
        apt("update", "-qq")
        apt("install", "-y", "-qq", "wrk")
    return shutil.which("wrk")


# --- The real stack ----------------------------------------------------------------------------


def stack_env(*, database_url: str, broker_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """Production-like settings (DEBUG off) for every process of the stack, with one set of keys."""
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        CACHE_URL=broker_url,  # Redis as the cache too, as production runs
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
        API_THROTTLE_RATE="100000000/min",
        LOG_LEVEL="WARNING",
        GLUEY_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="gluey.settings",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@dataclass
class Stack:
    """Subprocesses of one run, each with its log file; ``stop`` ends them and their children."""

    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        out = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def manage(self, name: str, *args: str) -> subprocess.Popen:
        return self.start(name, [PYTHON, "manage.py", *args])

    def check_alive(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def stop(self, name: str | None = None) -> None:
        names = [name] if name else list(self.processes)
        for n in names:
            process = self.processes.get(n)
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for n in names:
            process = self.processes.get(n)
            if process is None:
                continue
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result.stdout


# --- The benchmark scripts ---------------------------------------------------------------------------


@dataclass
class BenchResult:
    name: str
    figures: dict[str, Any] | None
    returncode: int
    seconds: float
    load_before: float
    tail: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.figures is not None


def last_json_line(output: str) -> dict[str, Any] | None:
    for line in reversed(output.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            with contextlib.suppress(ValueError):
                return json.loads(line)
    return None


def run_bench(name: str, args: list[str], *, env: dict[str, str], logs: Path, timeout: float) -> BenchResult:
    """Run ``bench/<name>.py`` with ``args``; its output goes to the console and ``logs/<name>.log``."""
    logs.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    log(f"bench/{name}.py {' '.join(args)} (load average {load:.2f})")
    started = time.monotonic()
    lines: list[str] = []
    with (logs / f"{name}.log").open("w") as out:
        process = subprocess.Popen(
            [PYTHON, f"bench/{name}.py", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                out.write(line)
                out.flush()
                lines.append(line)
                print(f"    {line.rstrip()[:200]}", flush=True)
            process.wait()
        finally:
            timer.cancel()
    output = "".join(lines)
    return BenchResult(
        name, last_json_line(output), process.returncode, time.monotonic() - started, load, "".join(lines[-15:])
    )


# --- Load generation ---------------------------------------------------------------------------------


@dataclass
class Load:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# Both scripts end by printing their figures as one WRKJSON line (read by _wrk_figures).
_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, ' ..
    '"p99_us": %%d, "errors": %%d}\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""

WRK_SCRIPT = (
    r"""
wrk.method = "%(method)s"
wrk.body = [==[%(body)s]==]
%(headers)s
"""
    + _WRK_DONE
)


REPLAY_SCRIPT = (
    r"""
-- Replays pre-built requests, one per line: method, path, body ("-": none), then header=value pairs,
-- tab-separated. Thread k of n sends lines k, k+n, k+2n, ... so no two threads send the same request.
local counter, requests = 0, {}
local k = 0
function setup(thread)
  thread:set("id", k)
  k = k + 1
end
function init(args)
  local n, i = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if i %% n == id then
      local fields = {}
      for field in string.gmatch(line, "[^\t]+") do table.insert(fields, field) end
      local headers = {}
      for j = 4, #fields do
        local name, value = string.match(fields[j], "^([^=]+)=(.*)$")
        headers[name] = value
      end
      local body = fields[3] ~= "-" and fields[3] or nil
      table.insert(requests, wrk.format(fields[1], fields[2], headers, body))
    end
    i = i + 1
  end
end
function request()
  counter = counter + 1
  return requests[((counter - 1) %% #requests) + 1]
end
"""
    + _WRK_DONE
)


def wrk_replay(
    url: str,
    requests: list[tuple[str, dict[str, str], bytes]],
    *,
    wrk: str,
    seconds: float,
    connections: int = 8,
    method: str = "POST",
) -> Load:
    """Closed-loop load replaying distinct pre-built requests (e.g. pre-signed webhooks) in turn.

    ``requests`` are (path, headers, body); for webhooks supply more than the server can take in
    ``seconds``, so none is sent twice.
    """
    threads = min(2, connections)
    with tempfile.TemporaryDirectory(prefix="gluey-replay-") as folder:
        data, script = Path(folder) / "requests.tsv", Path(folder) / "replay.lua"
        with data.open("w") as out:
            for path, headers, body in requests:
                fields = [method, path, body.decode() or "-", *(f"{k}={v}" for k, v in headers.items())]
                if any("\t" in f or "\n" in f for f in fields):
                    raise ValueError("a replayed request may not contain tabs or newlines")
                out.write("\t".join(fields) + "\n")
        script.write_text(REPLAY_SCRIPT % {})
        result = subprocess.run(
            [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s",
             "-s", str(script), url, "--", str(data), str(threads)],
            capture_output=True, text=True, timeout=seconds + 120, check=False,
        )  # fmt: skip
    return _wrk_figures(result)


def open_loop_replay(
    url: str,
    requests: list[tuple[str, dict[str, str], bytes]],
    *,
    rate: float,
    connections: int = 32,
    method: str = "POST",
) -> list[tuple[float, int]]:
    """Open-loop load (as wrk2 does): request ``n`` is due at ``n / rate`` s, whatever the answers before it.

    Returns (latency in ms, status) per request, the latency counted from when the request was
    due, so a slow answer that holds up the next request on its connection is charged to that
    request too (no coordinated omission). An asyncio client over keep-alive connections writing
    pre-built bytes: a few tens of microseconds of CPU per request, so on a small box the client
    takes little from the server it measures (a thread per request with ``requests`` took ~1 ms).
    """
    import asyncio

    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    raw = []
    for path, headers, body in requests:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
        raw.append(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    results: list[tuple[float, int]] = [(float("nan"), 0)] * len(raw)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2

        async def connection(k: int) -> None:
            reader, writer = await asyncio.open_connection(host, port)
            for n in range(k, len(raw), connections):
                due = start + n / rate
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                status = 0
                try:
                    writer.write(raw[n])
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = int(head.split(b" ", 2)[1])
                    fields = {
                        name.strip().lower(): value.strip()
                        for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:] if line)
                    }
                    await reader.readexactly(int(fields.get(b"content-length", b"0")))
                    reopen = fields.get(b"connection", b"").lower() == b"close"
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    reopen = True
                results[n] = ((loop.time() - due) * 1000, status)
                if reopen:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
            writer.close()

        await asyncio.gather(*(connection(k) for k in range(min(connections, len(raw)))))

    asyncio.run(run())
    return results


def _wrk_figures(result: subprocess.CompletedProcess[str]) -> Load:
    """The figures our wrk Lua scripts print on their ``WRKJSON`` line, as a Load."""
    figures = next((json.loads(line[8:]) for line in result.stdout.splitlines() if line.startswith("WRKJSON ")), None)
    if figures is None:
        raise RuntimeError(f"wrk gave no figures:\n{result.stdout}\n{result.stderr}")
    return Load(
        "wrk",
        figures["requests"],
        figures["duration_us"] / 1e6,
        figures["p50_us"] / 1000,
        figures["p95_us"] / 1000,
        figures["p99_us"] / 1000,
        figures["errors"],
    )


def http_load(
    url: str,
    *,
    method: str = "GET",
    body: str = "",
    headers: dict[str, str] | None = None,
    seconds: float = 10.0,
    connections: int = 8,
    wrk: str | None = None,
) -> Load:
    """Closed-loop load on one URL: ``connections`` clients, each sending the next request on an answer."""
    headers = headers or {}
    if wrk:
        lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT % {"method": method, "body": body, "headers": lines})
        try:
            result = subprocess.run(
                [
                    wrk,
                    "-t",
                    str(min(2, connections)),
                    "-c",
                    str(connections),
                    "-d",
                    f"{seconds:g}s",
                    "--timeout",
                    "10s",
                    "-s",
                    script.name,
                    url,
                ],
                capture_output=True,
                text=True,
                timeout=seconds + 60,
                check=False,
            )
        finally:
            os.unlink(script.name)
        return _wrk_figures(result)
    return _python_load(
        url, method=method, body=body.encode(), headers=headers, seconds=seconds, connections=connections
    )


def _python_load(
    url: str, *, method: str, body: bytes, headers: dict[str, str], seconds: float, connections: int
) -> Load:
    """The fallback when wrk is not there: threads with keep-alive connections (slower than wrk, same idea)."""
    parsed = urlparse(url)
    path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    host = parsed.hostname or "127.0.0.1"

    def client() -> None:
        conn = http.client.HTTPConnection(host, parsed.port, timeout=10)
        mine: list[float] = []
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body or None, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status < 400
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, parsed.port, timeout=10)
                ok = False
            if ok:
                mine.append((time.perf_counter() - started) * 1000)
            else:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return Load(
        "python",
        len(latencies),
        elapsed,
        percentile(latencies, 50),
        percentile(latencies, 95),
        percentile(latencies, 99),
        errors[0],
    )


# --- The machine ---------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_gb = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def git_commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "unknown"
