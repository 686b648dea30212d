"""Image transfers in the run's audit log: which BMC fetched which image, how much, how it ended.

The image server reports every request as an `image-served` event (hwfw/events.py).
`TransferAudit` is an event sink that turns each one that asked for a published image
into an audit record (`action: image-transfer`): the host whose BMC address made the
request (the remote address when it is none of the run's hosts), the image's sha256
and id, bytes sent, range, HTTP status, and whether every byte went out. Sinks must
not block, so records are written by tasks that `flush` awaits before the run's last
state write.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Mapping
from urllib.parse import urlsplit

from hwfw.apply.imagehttp import IMAGE_SERVED
from hwfw.apply.ledger import Ledger
from hwfw.events import Event
from hwfw.inventory.collect import ResolvedHost
from hwfw.logs import get_logger

__all__ = ["TransferAudit"]

log = get_logger("apply.transfers")


class TransferAudit:
    """An event sink writing one audit record per image transfer (see the module docstring)."""

    def __init__(self, ledger: Ledger, hosts: Mapping[str, ResolvedHost]) -> None:
        self.ledger = ledger
        self.hosts = hosts
        self._by_address: dict[str, str] | None = None
        self._writes: set[asyncio.Task[None]] = set()

    def emit(self, event: Event) -> None:
        if event.name != IMAGE_SERVED or not event.sha256:
            return  # a request that named no published image: the access log has it
        task = asyncio.get_running_loop().create_task(self._write(event))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Wait until every transfer seen so far is in the audit log."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    async def _write(self, event: Event) -> None:
        p = event.payload
        remote = str(p.get("remote") or "?")
        host = (await self._addresses()).get(remote, remote)
        status = int(p.get("status") or 0)
        ok = bool(p.get("complete")) and 200 <= status < 300
        parts = [f"{p.get('method', 'GET')} by {remote}: HTTP {status}, {p.get('bytes', 0)} bytes"]
        if p.get("range"):
            parts.append(f"range {p['range']}")
        if p.get("error"):
            parts.append(str(p["error"]))
        elif not p.get("complete"):
            parts.append("transfer incomplete")
        try:
            await self.ledger.audit(host=host, component=event.image or str(p.get("name") or "image"),
                                    action="image-transfer", outcome="ok" if ok else "failed",
                                    image_sha256=event.sha256, message="; ".join(parts))
        except OSError as exc:  # the audit log is for people: a write failure must not end the run
            log.warning("could not record an image transfer in the audit log: %s", exc)

    async def _addresses(self) -> dict[str, str]:
        """BMC address -> host name, resolved once (names through DNS, off the event loop)."""
        if self._by_address is None:
            self._by_address = await asyncio.to_thread(_resolve, self.hosts)
        return self._by_address


def _resolve(hosts: Mapping[str, ResolvedHost]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, rh in sorted(hosts.items()):
        address = urlsplit(rh.url).hostname or ""
        try:
            out.setdefault(str(ipaddress.ip_address(address)), name)
            continue
        except ValueError:
            pass
        try:
            for info in socket.getaddrinfo(address, None, type=socket.SOCK_STREAM):
                out.setdefault(str(info[4][0]), name)
        except OSError:
            continue
    return out
