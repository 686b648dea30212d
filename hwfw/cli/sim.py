"""`hwfw sim`: run the BMC simulator and make simulated firmware images.

`hwfw sim serve FLEET.yaml` prints one `NAME URL` line per BMC (flushed before it
starts serving), so scripts can read the addresses from stdout; logs go to stderr.
These commands read no workspace.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hwfw.api import parse_duration
from hwfw.api.sim import PROFILES
from hwfw.cli import cli
from hwfw.cli.common import examples


@examples("hwfw sim serve examples/lab/fleet.yaml --tls --speed 200 --write-inventory inventory.yaml",
          "hwfw sim make-image --vendor dell --model 'PowerEdge R750' --component bios --version 1.13.0 "
          "-o bios.bin")
@cli.group("sim")
def sim() -> None:
    """Simulated BMC fleet (Dell iDRAC9, HPE iLO 5/6, Supermicro X12/X13, plain DMTF)."""


@examples("hwfw sim make-image --vendor dell --model 'PowerEdge R750' --component bios --version 1.13.0 "
          "-o bios.bin",
          "hwfw sim make-image --vendor generic --model 'Contoso OpenServer 2' --component bmc --version 2.16.0 "
          "--size 1048576 -o bmc.bin")
@sim.command("make-image")
@click.option("--vendor", required=True, type=click.Choice(list(PROFILES)))
@click.option("--model", required=True, help="Model the image is built for, e.g. 'PowerEdge R750'.")
@click.option("--component", required=True, help="Component kind: bmc, bios, cpld, nic...")
@click.option("--version", "version", required=True, help="Version string the image installs.")
@click.option("--size", default=65536, show_default=True, type=click.IntRange(min=0), help="Payload bytes.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the image to FILE.")
def make_image_cmd(vendor: str, model: str, component: str, version: str, size: int, output: Path) -> None:
    """Write a simulated firmware image and print its sha256."""
    from hwfw.api.sim import make_image

    digest = make_image(vendor, model, component, version, size, output)
    sys.stdout.write(digest + "\n")
    sys.stdout.flush()


def _speed(value: str | None) -> float | None:
    return None if value is None else float(value)


def _latency(value: str | None) -> float | None:
    return None if value is None else parse_duration(value)


@examples("hwfw sim serve examples/lab/fleet.yaml",
          "hwfw sim serve fleet.yaml --tls --speed 200 --port 8443 --write-inventory inventory.yaml")
@sim.command("serve")
@click.argument("fleet_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--speed", default=None, help="Virtual seconds per real second (e.g. 200); 0 freezes the clock.")
@click.option("--tls", is_flag=True, help="Serve HTTPS with a generated CA (ca.pem in the state directory).")
@click.option("--listen-block", default=None,
              help="Loopback block, e.g. 127.10.0.0/24 (default: derived from the path).")
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port on every BMC address (default 443 as root, else 8443).")
@click.option("--latency", default=None, help="Added real-time latency per request, e.g. 50ms.")
@click.option("--state-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where hardware state, uploads and ca.pem live (default: .hwfw/sim next to the fleet file).")
@click.option("--write-inventory", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a ready-to-use hwfw inventory YAML for the served BMCs.")
@click.option("--seed", default=None, type=int, help="Override the fleet seed.")
def serve_cmd(fleet_file: Path, speed: str | None, tls: bool, listen_block: str | None, port: int | None,
              latency: str | None, state_dir: Path | None, write_inventory: Path | None, seed: int | None) -> None:
    """Serve every BMC of FLEET_FILE until SIGINT/SIGTERM (state is persisted on exit)."""
    from hwfw.api.sim import serve

    serve(fleet_file, speed=_speed(speed), tls=tls, listen_block=listen_block, port=port,
          latency=_latency(latency), state_dir=state_dir, write_inventory=write_inventory, seed=seed)
