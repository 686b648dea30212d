"""`hwfw.api.sim`: the bundled BMC simulator, for `hwfw sim` and for embedding.

Not imported by `import hwfw.api` (the simulator is large); import this module when
you need it. Workspaces with `sim://` hosts start the simulator by themselves.
"""

from __future__ import annotations

from pathlib import Path

from hwfw.vendor_registry import VENDOR_NAMES

__all__ = ["PROFILES", "make_image", "serve"]

# The simulated BMC families: one simulator profile per vendor of the registry
# (tests/test_vendor_registry.py keeps hwfw/sim/profiles equal to it).
PROFILES: tuple[str, ...] = VENDOR_NAMES


def make_image(vendor: str, model: str, component: str, version: str, size: int, output: Path) -> str:
    """Write a simulated firmware image for `vendor`'s simulated BMCs; returns its sha256."""
    from hwfw.sim.images import make_image as make

    return make(vendor, model, component, version, size, output)


def serve(fleet_file: Path, *, speed: float | None = None, tls: bool = False, listen_block: str | None = None,
          port: int | None = None, latency: float | None = None, state_dir: Path | None = None,
          write_inventory: Path | None = None, seed: int | None = None) -> None:
    """Serve every BMC of `fleet_file` until SIGINT/SIGTERM (its state is persisted on exit).

    Prints one `NAME URL` line per BMC on stdout before it starts serving."""
    from hwfw.sim.serve import serve_forever

    serve_forever(fleet_file, speed=speed, tls=tls, block=listen_block, port=port, latency=latency,
                  state_dir=state_dir, inventory=write_inventory, seed=seed)
