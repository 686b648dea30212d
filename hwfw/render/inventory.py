"""Human rendering of an inventory: one rich table per host.

JSON output is `Inventory.to_json(created_at)` (schemas/inventory-snapshot.schema.json);
this module only draws text. Unreachable hosts are listed in red with their error.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hwfw.inventory.model import HostInventory, Inventory

__all__ = ["CONFLICT_MARK", "FALLBACK_MARK", "host_header", "host_table", "render_inventory_text",
           "source_legend"]


# Why a host could not be read (HostInventory.error_kind): the label, and what to check.
# A refused password or an untrusted certificate is not a network problem.
_UNREAD: dict[str | None, tuple[str, str | None]] = {
    "auth": ("cannot log in", ("check this host's credentials reference (user name, password_env or "
                               "password_file) and that the account is enabled")),
    "tls": ("certificate not trusted", ("set ca_bundle (for the host in the inventory, or under settings) to "
                                        "the CA that signed it, or pass --ca-bundle FILE; --insecure for a lab")),
}


def render_inventory_text(inventory: Inventory, console: Console) -> None:
    """Print every host (sorted by name), then a one-line summary."""
    names = sorted(inventory.hosts)
    for name in names:
        host = inventory.hosts[name]
        if not host.reachable:
            label, hint = _UNREAD.get(host.error_kind, ("unreachable", None))
            console.print(Text.assemble((f"{name}", "bold red"), (f"  {label}: ", "red"),
                                        (host.error or "no answer", "red")))
            if hint:
                console.print(Text(f"  hint: {hint}", style="dim"))
            continue
        console.print(host_header(host))
        console.print(host_table(host))
    unread = [h for h in inventory.hosts.values() if not h.reachable]
    summary = f"{len(names) - len(unread)} of {len(names)} host(s) read"
    if unread:
        what = "unreachable" if all(h.error_kind not in _UNREAD for h in unread) else "could not be read"
        console.print(Text(f"{summary}; {len(unread)} {what}", style="red"))
    else:
        console.print(summary)


def host_header(host: HostInventory) -> Text:
    """`name  vendor · model · S/N serial · BMC version` (never truncated)."""
    header = " · ".join(part for part in (
        host.vendor, host.model, f"S/N {host.serial}" if host.serial else None,
        f"BMC {host.bmc_firmware}" if host.bmc_firmware else None,
        f"via {host.protocol}" if host.protocol != "redfish" else None) if part)
    return Text.assemble((host.host, "bold"), ("  " + header if header else "", "dim"))


# Markers after a version, explained by one legend line under the table.
FALLBACK_MARK = "*"
CONFLICT_MARK = "!"


def host_table(host: HostInventory) -> Table:
    """Components of one host (kind, instance, version, updateable) and pre-flight notes.
    A version read from a fallback (not FirmwareInventory) is marked `*`, one that
    another source contradicts `!`; a legend line under the table explains the marks."""
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("component")
    table.add_column("instance")
    table.add_column("version")
    table.add_column("updateable", justify="center")
    fallbacks: list[str] = []
    conflicts: list[str] = []
    for c in sorted(host.components, key=lambda c: (c.kind, c.instance)):
        version = Text(c.version) if c.version is not None else Text("unknown", style="yellow")
        if c.source is not None and c.source.fallback:
            version.append(" " + FALLBACK_MARK, style="yellow")
            fallbacks.append(c.source.label)
        if c.conflict is not None:
            version.append(" " + CONFLICT_MARK, style="bold red")
            conflicts.append(f"{c.key}: {c.conflict}")
        table.add_row(c.kind, "" if c.instance == c.kind else c.instance, version,
                      "yes" if c.updateable else Text("no", style="dim"))
    notes = _preflight_notes(host)
    legend = source_legend(fallbacks, conflicts)
    caption = [", ".join(notes)] if notes else []
    caption += legend
    if caption:
        table.caption = "\n".join(caption)
        table.caption_justify = "left"
    return table


def source_legend(fallbacks: list[str], conflicts: list[str]) -> list[str]:
    """The legend lines for the marks of one table (none when nothing is marked)."""
    out = []
    if fallbacks:
        out.append(f"{FALLBACK_MARK} read from a fallback, not FirmwareInventory: "
                   + ", ".join(dict.fromkeys(fallbacks)))
    out += [f"{CONFLICT_MARK} {text}" for text in conflicts]
    return out


def _preflight_notes(host: HostInventory) -> list[str]:
    pre = host.preflight
    notes: list[str] = []
    if pre is not None:
        if pre.power_state:
            notes.append(f"power {pre.power_state}")
        if pre.health:
            notes.append(f"health {pre.health}")
        if pre.pending_jobs:
            notes.append(f"{len(pre.pending_jobs)} pending job(s)")
        if pre.pending_bios_settings:
            notes.append("pending BIOS settings")
        if pre.running_updates:
            notes.append(f"{len(pre.running_updates)} update(s) running")
        if pre.licence_errors:
            notes.append("licence errors")
    return notes
