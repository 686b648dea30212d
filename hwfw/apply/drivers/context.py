"""What an update method is, and what it reads before sending anything.

An update method is an object in a vendor's method table (`Quirks.methods`, name →
method), not a method name looked up on a class: the table says which flows a BMC
can use, and adding a vendor flow is adding one object to one vendor module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol
from urllib.parse import urlsplit

from hwfw.apply.driver import FlashRequest, FlashResult, Progress
from hwfw.errors import ApplyError
from hwfw.inventory.model import ComponentState
from hwfw.vendors.base import BmcFacts

if TYPE_CHECKING:
    from hwfw.apply.drivers.flashing import Flasher

__all__ = ["FlashContext", "UpdateMethod", "apply_time_for", "image_filename", "supported_values"]


@dataclass
class FlashContext:
    """What a flash reads before sending anything."""

    update_service: dict[str, Any]
    component: ComponentState | None
    components: tuple[ComponentState, ...] = ()
    facts: BmcFacts | None = None
    deadline: float = 0.0
    size: int = 0
    filename: str = "image.bin"
    extra: dict[str, Any] = field(default_factory=dict)


class UpdateMethod(Protocol):
    """One way of getting an image onto a BMC and following it to its end.

    `push`: the image travels in the request, so `UpdateService.MaxImageSizeBytes`
    applies (a pull has the BMC fetch it from hwfw's image server)."""

    @property
    def name(self) -> str:
        """The method's name in plans, logs and the vendor's method table."""

    @property
    def push(self) -> bool:
        """Whether the image travels in the request."""

    def available(self, ctx: FlashContext) -> bool:
        """Whether this BMC's UpdateService offers the method."""

    async def flash(self, kit: Flasher, request: FlashRequest, ctx: FlashContext,
                    progress: Progress) -> FlashResult:
        """Send the image and follow the BMC's task, job or state to its real end."""


def image_filename(request: FlashRequest) -> str:
    """The name to send the image under: the repository source's file name (BMCs look at
    extensions: .EXE/.d9 on Dell, .bin/.fwpkg on HPE), not the cache's digest name."""
    source = request.entry.source or ""
    name = Path(urlsplit(source).path).name if "://" in source else Path(source).name
    return name or request.image_path.name


def supported_values(annotation: Any) -> list[str]:
    """`SupportedValues` of an `@Redfish.OperationApplyTimeSupport` annotation."""
    if not isinstance(annotation, Mapping):
        return []
    return [str(v) for v in annotation.get("SupportedValues") or ()]


def apply_time_for(host: str, request: FlashRequest, support: list[str]) -> str | None:
    """The plan's apply time if the BMC supports it; None to leave it out (the service
    default, Immediate). Never silently turns OnReset into Immediate (an Immediate
    apply time can reboot a host unexpectedly)."""
    wanted = request.step.apply_time or "Immediate"
    if not support:
        return wanted if wanted != "Immediate" else None
    if wanted in support:
        return wanted
    if wanted == "Immediate":
        return None
    raise ApplyError(f"{host}: the plan stages {request.step.component} with apply time {wanted}, but the "
                     f"BMC supports only {', '.join(support)}",
                     hint="re-run `hwfw plan`: the BMC's capabilities changed since the plan was made")
