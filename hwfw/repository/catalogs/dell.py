"""Dell `Catalog.xml` (as shipped by Dell and Dell Repository Manager) -> repository entries.

Format notes (what this reader relies on):

* the file is often gzipped (`Catalog.xml.gz`; detected by the gzip magic bytes, not
  the name) and encoded UTF-16 with a byte-order mark and CRLF line ends; plain
  UTF-8 (with or without BOM) is read too;
* `<Manifest baseLocation="downloads.dell.com" baseLocationAccessProtocols="HTTP,HTTPS">`
  gives the server; each `<SoftwareComponent path="FOLDER.../x.EXE">` is relative to it;
* a component carries `vendorVersion`, `dellVersion`, `rebootRequired`, `size`,
  `releaseDate`, `releaseID`, `<Name>`, `<ComponentType value="BIOS|FRMW|DRVR|APAC">`,
  `<Category>`, `<SupportedDevices><Device componentID>`,
  `<SupportedSystems><Brand><Model systemID>`, `<Criticality value="0|1|2">`
  (Optional/Recommended/Urgent) and `<Cryptography><Hash algorithm="SHA256">`;
  older catalogs only have a `hashMD5` attribute.

sha256 is mandatory in hwfw: components with only MD5 or SHA-1 are skipped and named.
Only BIOS and FRMW packages are imported by default: DRVR (OS drivers) and APAC
(applications) are installed from the host OS, not through the BMC.
"""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from hwfw.errors import RepositoryError
from hwfw.repository.catalogs import CatalogEntries, Skipped, register

DEFAULT_TYPES = ("BIOS", "FRMW")
CRITICALITY = {"0": "Optional", "1": "Recommended", "2": "Urgent"}
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")

# Ordered: the first rule whose words occur in a component's name/category/devices wins.
_KIND_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bmc", ("idrac", "lifecycle controller")),
    ("cpld", ("cpld",)),
    ("raid", ("raid", "perc", "sas", "hba", "storage controller", "boss")),
    ("nic", ("network", "ethernet", "nic", "connectx", "netxtreme", "converged", "fibre channel")),
    ("psu", ("power supply", "psu")),
    ("backplane", ("backplane",)),
    ("drive", ("drive", "ssd", "hdd", "nvme", "disk")),
    ("gpu", ("gpu",)),
)


@dataclass(frozen=True, slots=True)
class DellSystem:
    brand: str
    model: str
    system_id: str

    @property
    def display(self) -> str:
        return f"{self.brand} {self.model}".strip()


@dataclass
class DellComponent:
    path: str
    name: str
    component_type: str
    vendor_version: str
    dell_version: str = ""
    reboot_required: bool = False
    category: str = ""
    devices: list[tuple[str, str]] = field(default_factory=list)
    systems: list[DellSystem] = field(default_factory=list)
    criticality: str | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    size: int | None = None
    release_date: str = ""
    release_id: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} {self.vendor_version}".strip()


@dataclass
class DellCatalog:
    base_location: str
    protocols: tuple[str, ...]
    version: str
    components: list[DellComponent]


def decode_catalog(raw: bytes) -> str:
    """Bytes as Dell ships them (maybe gzipped, UTF-16 with BOM or UTF-8) -> text."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:3] == b"\xef\xbb\xbf":
        return raw[3:].decode("utf-8")
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw.decode("utf-16")  # the BOM picks the byte order and is dropped
    if raw[:2] == b"<\x00":
        return raw.decode("utf-16-le")
    if raw[:2] == b"\x00<":
        return raw.decode("utf-16-be")
    return raw.decode("utf-8")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    found = _children(el, name)
    return found[0] if found else None


def _display(el: ET.Element | None) -> str:
    """The English <Display> text of an element (first Display if none is marked en)."""
    if el is None:
        return ""
    displays = _children(el, "Display")
    for d in displays:
        if (d.get("lang") or "en").lower().startswith("en"):
            return (d.text or "").strip()
    return (displays[0].text or "").strip() if displays else ""


def _component(el: ET.Element) -> DellComponent:
    ctype = _child(el, "ComponentType")
    hashes: dict[str, str] = {}
    crypto = _child(el, "Cryptography")
    for h in _children(crypto, "Hash") if crypto is not None else []:
        alg = (h.get("algorithm") or "").upper().replace("-", "")
        if alg and h.text:
            hashes[alg] = h.text.strip()
    if el.get("hashMD5") and "MD5" not in hashes:
        hashes["MD5"] = el.get("hashMD5", "").strip()
    systems: list[DellSystem] = []
    supported = _child(el, "SupportedSystems")
    for brand in _children(supported, "Brand") if supported is not None else []:
        brand_name = _display(brand) or brand.get("prefix", "")
        for model in _children(brand, "Model"):
            systems.append(DellSystem(brand_name, _display(model) or model.get("name", ""),
                                      model.get("systemID", "")))
    devices_el = _child(el, "SupportedDevices")
    devices = [(d.get("componentID", ""), _display(d))
               for d in (_children(devices_el, "Device") if devices_el is not None else [])]
    crit = _child(el, "Criticality")
    size = el.get("size")
    return DellComponent(
        path=el.get("path", ""), name=_display(_child(el, "Name")),
        component_type=(ctype.get("value", "") if ctype is not None else "").upper(),
        vendor_version=el.get("vendorVersion", "").strip(), dell_version=el.get("dellVersion", "").strip(),
        reboot_required=el.get("rebootRequired", "").lower() == "true",
        category=" ".join(filter(None, (_display(_child(el, "Category")), _display(_child(el, "LUCategory"))))),
        devices=devices, systems=systems,
        criticality=crit.get("value") if crit is not None else None, hashes=hashes,
        size=int(size) if size and size.isdigit() else None, release_date=el.get("releaseDate", "").strip(),
        release_id=el.get("releaseID", "").strip())


def parse_catalog(raw: bytes) -> DellCatalog:
    """Parse catalog bytes (see `decode_catalog` for the encodings accepted)."""
    try:
        root = ET.fromstring(decode_catalog(raw))
    except (ET.ParseError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise RepositoryError(f"not a readable Dell catalog: {exc}",
                              hint="pass Catalog.xml or Catalog.xml.gz as downloaded from Dell") from exc
    if _local(root.tag) != "Manifest":
        raise RepositoryError(f"not a Dell catalog: root element is <{_local(root.tag)}>, expected <Manifest>",
                              hint="a CatalogIndex lists per-model catalogs; import one of those")
    protocols = tuple(p.strip().upper() for p in (root.get("baseLocationAccessProtocols") or "").split(",")
                      if p.strip())
    comps = [_component(c) for c in root.iter() if _local(c.tag) == "SoftwareComponent"]
    return DellCatalog(root.get("baseLocation", "").strip(), protocols, root.get("version", ""), comps)


def component_kind(c: DellComponent) -> str:
    """hwfw component kind of a Dell package (see _KIND_RULES); BIOS by type."""
    if c.component_type == "BIOS":
        return "bios"
    text = " ".join([c.name, c.category, *(name for _, name in c.devices)]).lower()
    for kind, words in _KIND_RULES:
        if any(re.search(rf"\b{re.escape(w)}\b", text) for w in words):
            return kind
    kind = re.sub(r"[^a-z0-9_-]+", "-", c.component_type.lower()).strip("-")
    return kind if kind and kind[0].isalpha() else "firmware"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def matching_systems(c: DellComponent, wanted: Sequence[str]) -> list[tuple[str, DellSystem]]:
    """(requested name, system) pairs: a request matches a systemID, "R750" or "PowerEdge R750"."""
    out = []
    for w in wanted:
        nw = _norm(w)
        for s in c.systems:
            if nw in {_norm(s.system_id), _norm(s.model), _norm(s.display)} - {""}:
                out.append((w, s))
    return out


def base_url_of(catalog: DellCatalog, override: str | None) -> str:
    if override:
        return override.rstrip("/")
    base = catalog.base_location.rstrip("/")
    if not base:
        raise RepositoryError("the catalog has no baseLocation (a local repository catalog)",
                              hint="pass --base-url with the URL the packages are served from")
    if "://" in base:
        return base
    scheme = "https" if not catalog.protocols or "HTTPS" in catalog.protocols else "http"
    return f"{scheme}://{base}"


def _entry(c: DellComponent, system: DellSystem, base: str) -> tuple[dict[str, Any], str]:
    kind = component_kind(c)
    model_slug = re.sub(r"[^a-z0-9]+", "-", system.model.lower()).strip("-") or system.system_id.lower()
    entry_id = f"dell-{model_slug}-{kind}-{c.vendor_version}"
    entry_id = re.sub(r"[^A-Za-z0-9._+-]+", "-", entry_id)
    crit = CRITICALITY.get(c.criticality or "", c.criticality or "unknown")
    devices = ", ".join(f"{name or '?'} ({cid})" for cid, name in c.devices if cid)
    title = c.name if c.vendor_version in c.name else f"{c.name} {c.vendor_version}".strip()
    if c.dell_version and c.dell_version != c.vendor_version:
        title += f" ({c.dell_version})"
    details = [title]
    if c.release_date:
        details.append(f"released {c.release_date}")
    details.append(f"Dell criticality: {crit}")
    if devices:
        details.append(f"devices: {devices}")
    source = f"{base}/{c.path.lstrip('/')}"
    entry: dict[str, Any] = {
        "id": entry_id, "vendor": "dell", "component": kind, "version": c.vendor_version,
        "models": [system.display], "source": source, "sha256": c.hashes["SHA256"].lower(), "size": c.size,
        "activation": "host-reboot" if c.reboot_required else "none",
        "critical": True if c.criticality == "2" else None, "description": "; ".join(details)}
    if source.lower().startswith("http://"):
        entry["allow_http"] = True
    return entry, (c.release_id or c.dell_version or "alt").lower()


class DellCatalogReader:
    name = "dell-catalog"
    vendor = "dell"
    summary = "Dell Catalog.xml / Catalog.xml.gz (as Dell and Dell Repository Manager ship it)"

    def read(self, path: Path, *, models: Sequence[str], base_url: str | None,
             include: Sequence[str] | None) -> CatalogEntries:
        catalog = parse_catalog(path.read_bytes())
        types = {t.upper() for t in (include or DEFAULT_TYPES)}
        base = base_url_of(catalog, base_url)
        out = CatalogEntries()
        other_types: dict[str, int] = {}
        unmatched = set(models)
        for c in catalog.components:
            pairs = matching_systems(c, models)
            if not pairs:
                continue
            unmatched -= {w for w, _ in pairs}
            if c.component_type not in types:
                other_types[c.component_type or "?"] = other_types.get(c.component_type or "?", 0) + 1
                continue
            if "SHA256" not in c.hashes or not _HEX64.fullmatch(c.hashes["SHA256"]):
                have = "/".join(sorted(c.hashes)) or "no"
                out.skipped.append(Skipped(c.label, f"catalog gives only {have} hash(es); hwfw requires sha256",
                                           c.path))
                continue
            if not c.vendor_version:
                out.skipped.append(Skipped(c.label or c.path, "no vendorVersion", c.path))
                continue
            seen: set[str] = set()
            for _, system in pairs:
                if system.display in seen:
                    continue
                seen.add(system.display)
                entry, alt = _entry(c, system, base)
                out.entries.append(entry)
                out.disambiguators[entry["id"]] = alt
        if other_types:
            kinds = ", ".join(f"{n} {t}" for t, n in sorted(other_types.items()))
            out.notes.append(f"left out {kinds} package(s) for these models; include them with "
                             f"--include TYPE (default: {', '.join(DEFAULT_TYPES)})")
        for w in sorted(unmatched):
            out.notes.append(f"no component in the catalog supports model {w!r}")
        if base.startswith("http://"):
            out.notes.append(f"the catalog's packages are served over plain http:// ({base}); "
                             f"entries got allow_http: true")
        return out


register(DellCatalogReader())
