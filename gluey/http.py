"""The outbound HTTP client for customer webhooks.

Every request goes through :func:`post`, which gives:

- one pooled ``requests`` session per thread (keep-alive to each endpoint);
- a connect timeout (5 s) and a hard total deadline (30 s) for the whole
  exchange, enforced by a watchdog that shuts the socket down, so a server
  dripping one byte at a time cannot hold a worker;
- no redirects, no proxies from the environment, no retries inside urllib3;
- a capped response read: at most ``keep`` bytes (2 KB) are kept;
- the SSRF guard, checked on the address actually connected to: the connection
  class resolves the host itself, drops every address that is not public
  (unless inside ``settings.WEBHOOK_ALLOWED_NETWORKS``) and connects to a
  checked address, so DNS rebinding between a check and the connect is moot.

It never raises for network trouble: :class:`PostResult` carries the status or
the error.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 30.0
KEEP_BYTES = 2048
# Read (and drop) up to this much more so the connection can go back to the pool.
DRAIN_BYTES = 64 * 1024
USER_AGENT = "Gluey-Webhooks/1.0"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddress(Exception):
    """The destination resolves only to addresses outbound requests may not reach."""


# --- The address policy ---------------------------------------------------------


def _allowed_networks() -> list[Network]:
    from django.conf import settings

    return list(getattr(settings, "WEBHOOK_ALLOWED_NETWORKS", []))


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible (deprecated ::a.b.c.d) still routes to a.b.c.d on some stacks.
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def _is_public(ip: IPAddress) -> bool:
    if (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return False
    return not (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)


def address_allowed(ip: IPAddress | str, *, allowed: Iterable[Network] | None = None) -> bool:
    """True if outbound requests may connect to ``ip``.

    Public addresses are allowed; anything else (loopback, private, link-local,
    unspecified, multicast, reserved, and IPv6 forms embedding such an IPv4
    address) only when inside one of the ``allowed`` networks (default:
    ``settings.WEBHOOK_ALLOWED_NETWORKS``).
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])
    networks = list(_allowed_networks() if allowed is None else allowed)
    candidates: list[IPAddress] = [ip]
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        candidates.append(embedded)
    if any(c.version == n.version and c in n for c in candidates for n in networks):
        return True
    return all(_is_public(c) for c in candidates)


def _resolve(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


def host_check(host: str, port: int) -> list[str]:
    """Resolve ``host`` and raise BlockedAddress if any address is not allowed.

    Used when a customer subscribes, to refuse private destinations early; the
    connect-time guard still applies to every request. Returns the addresses;
    raises ``socket.gaierror`` if the name does not resolve.
    """
    addresses = [sockaddr[0] for _, sockaddr in _resolve(host, port)]
    blocked = sorted({a for a in addresses if not address_allowed(a)})
    if blocked:
        raise BlockedAddress(f"{host} resolves to a non-public address ({', '.join(blocked)})")
    return addresses


def connect_allowed(host: str, port: int, *, timeout: float) -> socket.socket:
    """A TCP connection to ``host:port`` through an address the policy allows (for non-HTTP clients: sFTP).

    Raises BlockedAddress when every address of ``host`` is refused, OSError when none answers.
    """
    try:
        resolved = _resolve(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from None
    usable = [(family, sockaddr) for family, sockaddr in resolved if address_allowed(sockaddr[0])]
    if not usable:
        raise BlockedAddress(f"refused to connect to {host}: not a public address")
    error: OSError | None = None
    for family, sockaddr in usable:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError(f"cannot connect to {host}:{port}")


# --- Connections that connect only to checked addresses ------------------------------------


class _GuardMixin:
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        try:
            resolved = _resolve(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        usable = [(family, sockaddr) for family, sockaddr in resolved if address_allowed(sockaddr[0])]
        if not usable:
            addresses = ", ".join(sorted({sockaddr[0] for _, sockaddr in resolved}))
            raise BlockedAddress(f"refused to connect to {self.host}: not a public address ({addresses})")
        error: OSError | None = None
        for family, sockaddr in usable:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if isinstance(self.timeout, (int, float)):
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except TimeoutError as exc:
                sock.close()
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                sock.close()
                error = exc
                continue
            # Belt and braces: the peer we are connected to is the address we checked.
            peer = sock.getpeername()[0]
            if not address_allowed(peer):
                sock.close()
                raise BlockedAddress(f"refused to talk to {self.host}: connected peer {peer} is not a public address")
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> Any:
        # Let the watchdog find this connection's socket if the deadline passes.
        holder = getattr(_current, "holder", None)
        if holder is not None:
            holder.connections.append(self)
        sock = getattr(self, "sock", None)
        if sock is not None:
            # A pooled connection was checked when it connected; check again in
            # case the allowed networks changed since (settings reload, tests).
            try:
                peer = sock.getpeername()[0]
            except OSError:
                peer = None
            if peer is not None and not address_allowed(peer):
                self.close()  # type: ignore[attr-defined]
                raise BlockedAddress(f"refused to talk to {self.host}: connected peer {peer} is not a public address")
        return super().request(*args, **kwargs)  # type: ignore[misc]


class GuardedHTTPConnection(_GuardMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose pools use the guarded connection classes."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # A proxy would connect for us, past the guard.
        raise BlockedAddress("outbound webhook requests never use a proxy")


def session_create(*, pool_maxsize: int = 4) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # no proxies or .netrc from the environment
    adapter = GuardedAdapter(pool_connections=64, pool_maxsize=pool_maxsize, max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers = requests.structures.CaseInsensitiveDict(
        {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}
    )
    return s


_local = threading.local()


def session() -> requests.Session:
    """This thread's pooled session (requests sessions are not documented thread-safe)."""
    s = getattr(_local, "session", None)
    if s is None:
        s = _local.session = session_create()
    return s


# --- The total deadline ---------------------------------------------------------------


@dataclass(eq=False)
class _Holder:
    connections: list[Any] = field(default_factory=list)
    cancelled: bool = False
    fired: bool = False

    def fire(self) -> None:
        self.fired = True
        for conn in self.connections:
            sock = getattr(conn, "sock", None)
            if sock is None:
                continue
            try:
                # The plain socket method on the descriptor also wakes an SSL read.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


class _Watchdog:
    """One daemon thread that fires holders whose deadline has passed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Holder]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: float, holder: _Holder) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gluey-http-watchdog", daemon=True)
                self._thread.start()
            heapq.heappush(self._heap, (deadline, next(self._seq), holder))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, holder = self._heap[0]
                now = time.monotonic()
                if holder.cancelled:
                    heapq.heappop(self._heap)
                    continue
                if deadline > now:
                    self._cond.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
            holder.fire()


_watchdog = _Watchdog()
_current = threading.local()


# --- Posting -----------------------------------------------------------------------------


@dataclass
class PostResult:
    status: int | None
    latency_ms: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _describe(exc: BaseException, host: str, *, timed_out: bool, total: float) -> str:
    if timed_out:
        return f"timed out after {total:g} s in total"
    if isinstance(exc, BlockedAddress):
        return str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return f"connect timed out ({host})"
    if isinstance(exc, requests.ReadTimeout):
        return "read timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {exc}"
    if isinstance(exc, requests.ConnectionError):
        inner: BaseException | None = exc
        while inner is not None and inner.__context__ is not None and not isinstance(inner, BlockedAddress):
            inner = inner.__context__
        if isinstance(inner, BlockedAddress):
            return str(inner)
        return f"connection failed: {exc}"
    return f"{type(exc).__name__}: {exc}"


def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    connect_timeout: float = CONNECT_TIMEOUT,
    total_timeout: float = TOTAL_TIMEOUT,
    keep: int = KEEP_BYTES,
    http: requests.Session | None = None,
) -> PostResult:
    """POST ``body`` to ``url`` under the guard; never raises for network errors."""
    http = http or session()
    holder = _Holder()
    started = time.monotonic()
    _watchdog.add(started + total_timeout, holder)
    _current.holder = holder
    response = None
    try:
        response = http.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=(min(connect_timeout, total_timeout), total_timeout),
            allow_redirects=False,
            stream=True,
        )
        kept = bytearray()
        drained = 0
        raw = response.raw
        while True:
            chunk = raw.read(8192, decode_content=True)
            if not chunk:
                break
            if len(kept) < keep:
                kept += chunk[: keep - len(kept)]
            drained += len(chunk)
            if drained > DRAIN_BYTES:
                break
        return PostResult(
            status=response.status_code,
            latency_ms=int((time.monotonic() - started) * 1000),
            body=bytes(kept),
            headers=requests.structures.CaseInsensitiveDict(response.headers),
        )
    except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded result
        return PostResult(
            status=None,
            latency_ms=int((time.monotonic() - started) * 1000),
            error=_describe(exc, url, timed_out=holder.fired, total=total_timeout)[:1000],
        )
    finally:
        holder.cancelled = True
        _current.holder = None
        if response is not None:
            response.close()
