"""One uvicorn server listening on many loopback sockets, one per BMC address.

Linux routes all of 127.0.0.0/8 to `lo`, so every BMC gets its own 127.X.Y.Z on the
same port without `ip addr add`. uvicorn takes our sockets (`startup(sockets=...)`),
and the SSLContext is set on the config after `config.load()` (uvicorn's Config takes
no SSLContext when it is given sockets). `Listeners` can close and reopen a single
BMC's socket, which is how a rebooting BMC refuses connections.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import logging
import resource
import socket
import ssl
from typing import Any, Callable, Iterator

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("hwfw.sim")


class CoalescingTransport:
    """Transport wrapper that joins writes made in one loop iteration into one send.

    uvicorn writes the status line + headers and the body separately; two small
    segments per response doubled the client's wake-ups (526 req/s instead of 3,000+
    in bench_sim_serve.py). Writes are buffered and flushed with one `call_soon`.
    """

    __slots__ = ("_transport", "_loop", "_buffer", "_http10")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, http10: bool = False) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] | None = None
        # A BMC answering as HTTP/1.0: its (one) status line per connection says so.
        self._http10 = http10

    def write(self, data: bytes) -> None:
        if self._buffer is None:
            self._buffer = [data]
            self._loop.call_soon(self._flush)
        else:
            self._buffer.append(data)

    def _flush(self) -> None:
        buffer, self._buffer = self._buffer, None
        if buffer and not self._transport.is_closing():
            data = b"".join(buffer)
            if self._http10 and data.startswith(b"HTTP/1.1 "):
                data = b"HTTP/1.0 " + data[9:]
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._buffer = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class SimHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with coalesced writes (and HTTP/1.0 status lines for
    the BMCs the app lists in `http10_addresses`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sockname = transport.get_extra_info("sockname")
        http10 = bool(sockname) and sockname[0] in getattr(self.app, "http10_addresses", ())
        super().connection_made(CoalescingTransport(transport, asyncio.get_running_loop(),  # type: ignore[arg-type]
                                                    http10=http10))


def raise_nofile_limit() -> int:
    """Soft RLIMIT_NOFILE := hard (1,000 BMCs need thousands of descriptors)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def addresses(block: str, count: int) -> list[str]:
    """`count` host addresses from `block`, skipping .0 and .255; continues into the
    following /24s (staying inside 127.0.0.0/8) when the block is too small."""
    net = ipaddress.ip_network(block, strict=False)
    if not net.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
        raise ValueError(f"listen block {block} is not inside 127.0.0.0/8")
    out: list[str] = []
    value = int(net.network_address)
    top = int(ipaddress.ip_address("127.255.255.254"))
    while len(out) < count:
        if value > top:
            raise ValueError(f"not enough loopback addresses after {block} for {count} BMCs")
        if value & 0xFF not in (0, 255):
            out.append(str(ipaddress.ip_address(value)))
        value += 1
    return out


def _bind(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Linux copies TCP_NODELAY to accepted sockets: no Nagle/delayed-ACK stalls on small answers.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((address, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def bind_all(addrs: list[str], port: int, attempts: int = 20) -> tuple[list[socket.socket], int]:
    """Bind every address on one port; port 0 = a port free on all of them."""
    for _ in range(attempts if port == 0 else 1):
        socks: list[socket.socket] = []
        try:
            first = _bind(addrs[0], port)
            socks.append(first)
            chosen = first.getsockname()[1]
            for address in addrs[1:]:
                socks.append(_bind(address, chosen))
            return socks, chosen
        except OSError as exc:
            for s in socks:
                s.close()
            if exc.errno != errno.EADDRINUSE or port != 0:
                raise
    raise OSError(errno.EADDRINUSE, "no port free on every simulated BMC address")


class Listeners:
    """The running uvicorn server plus per-address control of its listening sockets."""

    def __init__(self, server: uvicorn.Server, port: int, tls: dict[str, ssl.SSLContext] | None) -> None:
        self.server = server
        self.port = port
        self.tls = tls
        self.by_addr: dict[str, asyncio.AbstractServer] = {}
        self.blackholes: dict[str, socket.socket] = {}
        self.pending: dict[str, tuple[socket.socket, asyncio.Task[None]]] = {}

    def tls_for(self, address: str) -> ssl.SSLContext | None:
        return self.tls.get(address) if self.tls else None

    def _factory(self) -> Any:
        cfg = self.server.config
        # uvicorn declares the class as a plain asyncio.Protocol; its HTTP protocols take these.
        protocol: Callable[..., asyncio.Protocol] = cfg.http_protocol_class
        return functools.partial(protocol, config=cfg, server_state=self.server.server_state,
                                 app_state=self.server.lifespan.state)

    def connections(self, address: str) -> Iterator[Any]:
        for conn in list(self.server.server_state.connections):
            server = getattr(conn, "server", None)
            if server and server[0] == address:
                yield conn

    def drop(self, scope: dict[str, Any]) -> bool:
        """Abort the TCP connection that carried `scope` (RST to the client)."""
        client, server = scope.get("client"), scope.get("server")
        for conn in list(self.server.server_state.connections):
            if getattr(conn, "client", None) == tuple(client or ()) \
                    and getattr(conn, "server", None) == tuple(server or ()):
                transport = getattr(conn, "transport", None)
                if transport is not None:
                    transport.abort()
                    return True
        return False

    def close(self, address: str, mode: str) -> None:
        """Stop accepting on `address` (refused) or accept-but-never-serve (timeout)."""
        waiting = self.pending.pop(address, None)
        if waiting is not None:
            waiting[1].cancel()
            waiting[0].close()
        srv = self.by_addr.pop(address, None)
        if srv is not None:
            srv.close()
        for conn in self.connections(address):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()
        if mode == "timeout" and address not in self.blackholes:
            try:
                hole = _bind(address, self.port)
                hole.listen(0)  # never accepted: the backlog fills and further SYNs time out
                self.blackholes[address] = hole
            except OSError:
                log.warning("could not black-hole %s:%s", address, self.port)

    def reopen(self, address: str) -> None:
        """Listen again at once (the kernel queues connections); serving starts a moment later."""
        if address in self.by_addr or address in self.pending:
            return
        hole = self.blackholes.pop(address, None)
        if hole is not None:
            hole.close()
        sock = _bind(address, self.port)
        sock.listen(2048)

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(self._factory(), sock=sock, ssl=self.tls_for(address), backlog=2048)
            self.pending.pop(address, None)
            self.by_addr[address] = server

        self.pending[address] = (sock, asyncio.get_running_loop().create_task(serve()))

    async def stop(self) -> None:
        for sock, task in list(self.pending.values()):
            task.cancel()
            sock.close()
        self.pending.clear()
        for srv in list(self.by_addr.values()):
            srv.close()
        self.by_addr.clear()
        for hole in self.blackholes.values():
            hole.close()
        self.blackholes.clear()
        for conn in list(self.server.server_state.connections):
            conn.shutdown()
        await asyncio.sleep(0)
        for conn in list(self.server.server_state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()
        for task in list(self.server.server_state.tasks):
            task.cancel()


async def start_server(app: Any, addrs: list[str], port: int,
                       tls: dict[str, ssl.SSLContext] | None) -> Listeners:
    """Bind every BMC address and start serving `app` on them in the running loop."""
    raise_nofile_limit()
    socks, chosen = bind_all(addrs, port)
    config = uvicorn.Config(app, http=SimHttpProtocol, loop="none", lifespan="off", log_level="warning",
                            access_log=False, server_header=False, date_header=False, backlog=2048,
                            timeout_keep_alive=120, ws="none", proxy_headers=False)
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    listeners = Listeners(server, chosen, tls)
    if tls is None:
        await server.startup(sockets=socks)
        for sock, srv in zip(socks, server.servers, strict=True):
            listeners.by_addr[sock.getsockname()[0]] = srv
        return listeners
    # uvicorn takes one SSLContext for all its sockets; each BMC presents its own
    # certificate, so the TLS listeners are created here, one context per address.
    await server.startup(sockets=[])
    loop = asyncio.get_running_loop()
    for sock in socks:
        address = sock.getsockname()[0]
        listeners.by_addr[address] = await loop.create_server(listeners._factory(), sock=sock,
                                                              ssl=listeners.tls_for(address), backlog=2048)
    return listeners
