"""The firmware version algebra: parse vendor version strings, order them, match constraints.

Vendors do not share a version syntax, so every version is read under one *scheme*.
Versions of different schemes (or of different families within a family-based scheme)
are never ordered against each other: hwfw never guesses, it raises
`IncomparableVersions`. Equality (``==``) never raises; it is simply False across schemes.

Schemes, in detection order (``scheme=None``): the first whose grammar accepts the
stripped text wins, so detection is deterministic. ``SCHEMES`` lists them in this order.

1. ``hpe-rom`` -- ``<family> v<numbers> [(MM/DD/YYYY)]``. HPE System ROMs as iLO reports
   them: ``U46 v2.72 (03/25/2023)`` (DL380 Gen10 Plus), ``U32 v2.68 (07/14/2022)``
   (DL360 Gen10), ``A41 v2.36 (03/09/2020)``, ``P89 v2.90 (04/30/2021)`` (DL380 Gen9),
   ``U46 v2.72``; also iLO manager strings ``iLO 5 v2.96``, ``iLO 6 v1.59``. The family
   (``U46``, ``iLO 5``) is ``Version.family``; the date is ignored (never decides).
2. ``hpe-dated`` -- ``<numbers> <Mon> <D> <YYYY>``: iLO firmware inventory versions such
   as ``2.96 Aug 17 2023``. Ordered by the number only. When forced, the date is
   optional, so constraints can be written ``parse_constraint(">=2.90", "hpe-dated")``.
3. ``hex`` -- ``0x11``, ``0x0A``: CPLD/PAL versions as HPE reports them. Numeric order.
4. ``date`` -- ``2023-06-15``, ``06/15/2023`` (SMBIOS BIOS release date), ``20230615``
   (8 digits, 19xx/20xx, valid calendar date). ``2023.06.15`` is NOT detected as a date
   (it is a perfectly good dotted version); force ``scheme="date"`` to read it as one.
   Likewise a valid ``YYYYMMDD`` number is a date unless ``scheme="dotted"`` is forced.
5. ``dotted`` -- numbers separated by dots, optional ``v``: iDRAC ``7.10.30.00``,
   Supermicro BMC ``01.73.12``, ConnectX ``16.35.2000``, Broadcom ``21.80.16.95``, Dell
   BIOS ``2.19.1``, iLO ``2.72``, ``v2.10``. A numeric ``-NNNN`` suffix is a further
   component (PERC ``52.26.0-5179`` == ``52.26.0.5179``). A pre-release suffix
   (``1.2.0-rc1``, ``1.2.0-beta.2``, ``2.0.0a1``, ``3.1b2``, ``1.0-alpha``) sorts before
   its release, alpha < beta < rc, then by number (missing number = 0). Tried before
   ``dell-letter`` so that ``v10`` is the dotted version 10, not a Dell revision V10.
6. ``dell-letter`` -- a letter and two digits: ``A04``, ``A10``, ``X27`` (Dell PowerEdge
   11G/12G DUPs, PERC H710 ``A04``). Family is the letter; numeric order within it.
7. ``cisco`` -- ``<major>.<minor>(<maint>[.<n>...][<letters>])``: Cisco IMC and UCS
   bundle versions such as ``4.1(3d)``, ``3.0(4j)``, ``4.3(2.240002)``. Ordered by the
   numbers, then the letters (none < ``a`` < ... < ``z`` < ``aa``).
8. ``model-prefixed`` -- ``<MODEL>.<major>.<minor>.<maint>[<letters>].<build>[.<stamp>]``:
   Cisco UCS BIOS versions such as ``C220M5.4.1.3i.0.0713210713``. The model prefix
   (``C220M5``) is the family; the ten-digit build stamp (MMDDYYHHMM) never decides,
   so ``C220M5.4.1.3i.0`` equals it.
9. ``hex-dash`` -- ``0x<hex>-<dotted>``: Intel NIC NVM versions as Cisco IMC reports
   them, ``0x80009E63-1.823.2`` (NVM tracking id, then the combo image version).
   Ordered by the dotted part, then the tracking id.
10. ``build-suffix`` -- ``<dotted> Build <n>``: HPE Intelligent Platform Abstraction Data
    such as ``9.2.0 Build 35``. Ordered by the numbers, then the build. When forced,
    the ``Build n`` part is optional (build 0).
11. ``opaque`` -- anything else (``47RA906J``, ``HPE-CPLD-rev-B``): equal only to the
    exact same text; any ordering raises. Empty text raises `InvalidVersion`.

Schemes 7-10 only accept text that no earlier scheme accepts, so adding them changed
no earlier detection.

Equality rules (numeric schemes): components are integers, so ``4.10 > 4.2`` and leading
zeros are insignificant (``01.73.12 == 1.73.12``); missing components are 0, so trailing
zeros are insignificant (``7.10 == 7.10.00``). The ``v`` prefix and date decorations do
not take part in equality; ``str()`` still returns the original text.

Cross-scheme rules: only versions with the same scheme and family are ordered. So
``2.96 Aug 17 2023`` (hpe-dated), ``iLO 5 v2.96`` (hpe-rom) and ``2.96`` (dotted) are
mutually incomparable even though a human would call them equal; when an operator knows
better, forcing a scheme (``parse("2.96", scheme="hpe-dated")``) makes them comparable.
Forced ``hpe-dated`` also reads the iLO manager string (``iLO 5 v2.96``), whose number
is the same firmware line.

One version, two notations: where a vendor prints the same version differently in two
places (iLO's Manager ``iLO 5 v2.55``, its FirmwareInventory ``2.55 Oct 01 2021``),
`normalise` rewrites it into the notation of the scheme the inventory uses, so the
two compare without anybody forcing a scheme. docs/versions.md lists every scheme.
"""

from __future__ import annotations

import datetime as _dt
import functools
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Final

try:
    from hwfw.errors import HwfwError
except ImportError:  # errors module optional while the package is assembled

    class HwfwError(Exception):  # type: ignore[no-redef]
        """Stand-in root error; a real class (not `Exception`) keeps the MRO below valid."""


__all__ = [
    "SCHEMES",
    "Clause",
    "Constraint",
    "IncomparableVersions",
    "InvalidConstraint",
    "InvalidVersion",
    "Version",
    "comparable",
    "detect_scheme",
    "normalise",
    "parse",
    "parse_constraint",
]

Key = tuple[Any, ...]
_Parsed = tuple["str | None", Key]  # (family, ordering key)


class InvalidVersion(HwfwError, ValueError):
    """A version string is empty or does not fit the scheme it was forced into."""


class InvalidConstraint(HwfwError, ValueError):
    """A constraint string does not follow the constraint syntax."""


class IncomparableVersions(HwfwError, TypeError):
    """Two versions have no common order (schemes, families differ, or one is opaque)."""

    def __init__(self, a: Version, b: Version, reason: str | None = None) -> None:
        self.a = a
        self.b = b
        self.reason = reason or _incomparability_reason(a, b) or "no common order"
        super().__init__(f"cannot compare {a.text!r} and {b.text!r}: {self.reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduce would call __init__(message) and fail on unpickling.
        return (type(self), (self.a, self.b, self.reason))


# --- scheme grammars --------------------------------------------------------------

_FINAL: Final = 3  # release rank: above every pre-release phase
_PHASES: Final = {"alpha": 0, "a": 0, "beta": 1, "b": 1, "rc": 2}
_NUM = r"\d+(?:\.\d+)*"
_A = re.ASCII  # `\d` alone would also accept non-ASCII digits such as "٧.١٠"
_MAX_LEN: Final = {"version": 256, "constraint": 4096}  # versions: keeps int() < 4300 digits
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"

_HPE_ROM_RE = re.compile(
    rf"(?P<family>[A-Z]\d{{2}}|iLO ?\d+)\s+[vV](?P<ver>{_NUM})"
    r"(?:\s+\(\d{1,2}/\d{1,2}/\d{4}\))?",
    _A,
)
_HPE_DATED_RE = re.compile(
    rf"[vV]?(?P<ver>{_NUM})(?P<date>\s+(?i:{_MONTHS})\s+\d{{1,2}},?\s+\d{{4}})?", _A
)
_HEX_RE = re.compile(r"0[xX](?P<hex>[0-9a-fA-F]+)", _A)
_DATE_RES: Final = (
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})", _A),
    re.compile(r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})", _A),
    re.compile(r"(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})", _A),
)
_DATE_FORCED_RE = re.compile(r"(?P<y>\d{4})\.(?P<m>\d{1,2})\.(?P<d>\d{1,2})", _A)
_DELL_LETTER_RE = re.compile(r"(?P<letter>[A-Za-z])(?P<num>\d{2})", _A)
_DOTTED_RE = re.compile(
    rf"[vV]?(?P<release>{_NUM})(?:-(?P<build>\d+))?"
    r"(?:[-._]?(?P<phase>alpha|beta|rc|a|b)[-._]?(?P<pre>\d+)?)?",
    re.IGNORECASE | _A,
)
_PLAIN_DOTTED_RE = re.compile(r"\d+(?:\.\d+)+", _A)
_ILO_RE = re.compile(rf"iLO ?\d+\s+[vV](?P<ver>{_NUM})", _A)
_CISCO_RE = re.compile(r"(?P<major>\d+)\.(?P<minor>\d+)\((?P<maint>\d+(?:\.\d+)*)(?P<letters>[a-zA-Z]{0,2})\)", _A)
_MODEL_RE = re.compile(
    r"(?P<family>[A-Za-z][A-Za-z0-9]*?\d[A-Za-z0-9]*)\.(?P<ver>\d+\.\d+\.\d+)(?P<letters>[a-zA-Z]{0,2})"
    r"\.(?P<build>\d+)(?:\.(?P<stamp>\d{10}))?",
    _A,
)
_HEX_DASH_RE = re.compile(rf"0[xX](?P<hex>[0-9a-fA-F]+)-(?P<ver>{_NUM})", _A)
_BUILD_SUFFIX_RE = re.compile(rf"[vV]?(?P<ver>{_NUM})(?:\s+(?i:build)\s+(?P<build>\d+))?", _A)
_DATE_PART_RE = re.compile(rf"(?P<mon>{_MONTHS})\s+(?P<day>\d{{1,2}}),?\s+(?P<year>\d{{4}})", re.IGNORECASE | _A)


def _release(numbers: str) -> tuple[int, ...]:
    """Integer components without trailing zeros, so `7.10 == 7.10.00` by tuple equality."""
    parts = [int(p) for p in numbers.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _parse_hpe_rom(text: str, forced: bool) -> _Parsed | None:
    m = _HPE_ROM_RE.fullmatch(text)
    if m is None:
        return None
    family = m["family"]
    if family.startswith("iLO"):
        family = "iLO " + family[3:].strip()  # `iLO5` and `iLO 5` are one family
    return family, (_release(m["ver"]), _FINAL, 0)


def _parse_hpe_dated(text: str, forced: bool) -> _Parsed | None:
    m = _HPE_DATED_RE.fullmatch(text) or (_ILO_RE.fullmatch(text) if forced else None)
    # Without a date this is indistinguishable from dotted, so only forcing allows it.
    if m is None or (m.re is _HPE_DATED_RE and m["date"] is None and not forced):
        return None
    return None, (_release(m["ver"]), _FINAL, 0)


def _parse_hex(text: str, forced: bool) -> _Parsed | None:
    m = _HEX_RE.fullmatch(text)
    return None if m is None else (None, (int(m["hex"], 16),))


def _parse_date(text: str, forced: bool) -> _Parsed | None:
    for regex in _DATE_RES + ((_DATE_FORCED_RE,) if forced else ()):
        m = regex.fullmatch(text)
        if m is not None:
            try:
                day = _dt.date(int(m["y"]), int(m["m"]), int(m["d"]))
            except ValueError:
                return None  # `20231345` is a number, not a date
            return None, (day.toordinal(),)
    return None


def _parse_dell_letter(text: str, forced: bool) -> _Parsed | None:
    m = _DELL_LETTER_RE.fullmatch(text)
    return None if m is None else (m["letter"].upper(), (int(m["num"]),))


def _parse_dotted(text: str, forced: bool) -> _Parsed | None:
    m = _DOTTED_RE.fullmatch(text)
    if m is None:
        return None
    numbers = m["release"] if m["build"] is None else f"{m['release']}.{m['build']}"
    phase = m["phase"]
    rank = _FINAL if phase is None else _PHASES[phase.lower()]
    return None, (_release(numbers), rank, int(m["pre"] or 0))


def _letters(text: str) -> tuple[int, str]:
    """Letter suffixes in order: none < a < ... < z < aa (Cisco's maintenance letters)."""
    return len(text), text.lower()


def _parse_cisco(text: str, forced: bool) -> _Parsed | None:
    m = _CISCO_RE.fullmatch(text)
    if m is None:
        return None
    return None, (_release(f"{m['major']}.{m['minor']}.{m['maint']}"), _letters(m["letters"]))


def _parse_model_prefixed(text: str, forced: bool) -> _Parsed | None:
    m = _MODEL_RE.fullmatch(text)
    if m is None:
        return None
    # The build stamp is when the image was built, not which version it is.
    return m["family"].upper(), (_release(m["ver"]), _letters(m["letters"]), int(m["build"]))


def _parse_hex_dash(text: str, forced: bool) -> _Parsed | None:
    m = _HEX_DASH_RE.fullmatch(text)
    return None if m is None else (None, (_release(m["ver"]), int(m["hex"], 16)))


def _parse_build_suffix(text: str, forced: bool) -> _Parsed | None:
    m = _BUILD_SUFFIX_RE.fullmatch(text)
    if m is None or (m["build"] is None and not forced):
        return None  # a bare dotted number is dotted unless this scheme is forced
    return None, (_release(m["ver"]), int(m["build"] or 0))


def _parse_opaque(text: str, forced: bool) -> _Parsed | None:
    return None, (text,)


_PARSERS: Final[dict[str, Callable[[str, bool], _Parsed | None]]] = {
    "hpe-rom": _parse_hpe_rom,
    "hpe-dated": _parse_hpe_dated,
    "hex": _parse_hex,
    "date": _parse_date,
    "dotted": _parse_dotted,
    "dell-letter": _parse_dell_letter,
    "cisco": _parse_cisco,
    "model-prefixed": _parse_model_prefixed,
    "hex-dash": _parse_hex_dash,
    "build-suffix": _parse_build_suffix,
    "opaque": _parse_opaque,
}
SCHEMES: Final[tuple[str, ...]] = tuple(_PARSERS)
_RELEASE_SCHEMES: Final = frozenset({"hpe-rom", "hpe-dated", "dotted"})
_EXPECTED: Final = {
    "hpe-rom": "an HPE family and version such as 'U46 v2.72 (03/25/2023)' or 'iLO 5 v2.96'",
    "hpe-dated": "a version with an optional date such as '2.96 Aug 17 2023', '2.96' or 'iLO 5 v2.96'",
    "hex": "a hexadecimal number such as '0x11'",
    "date": "a date such as '2023-06-15', '06/15/2023', '20230615' or '2023.06.15'",
    "dotted": "dotted numbers such as '7.10.30.00', '52.26.0-5179' or '1.2.0-rc1'",
    "dell-letter": "a letter and two digits such as 'A04'",
    "cisco": "a Cisco version such as '4.1(3d)'",
    "model-prefixed": "a model-prefixed version such as 'C220M5.4.1.3i.0.0713210713'",
    "hex-dash": "a hexadecimal id and dotted numbers such as '0x80009E63-1.823.2'",
    "build-suffix": "dotted numbers and a build such as '9.2.0 Build 35'",
    "opaque": "a non-empty string",
}
_FAMILY_NAMES: Final = {"hpe-rom": "HPE ROM families", "dell-letter": "Dell letter revisions",
                        "model-prefixed": "model prefixes"}


def _detect(text: str) -> tuple[str, _Parsed]:
    if _PLAIN_DOTTED_RE.fullmatch(text):
        # Shortcut for the common case; no earlier scheme accepts digits-and-dots only.
        return "dotted", (None, (_release(text), _FINAL, 0))
    for name, parser in _PARSERS.items():
        parsed = parser(text, False)
        if parsed is not None:
            return name, parsed
    raise AssertionError("unreachable: opaque accepts any text")


def _check_text(text: object, what: str, error: type[ValueError]) -> str:
    if not isinstance(text, str):
        raise TypeError(
            f"{what} must be a str, got {type(text).__name__} {text!r}"
            " (quote versions in YAML: unquoted 7.10 loads as the float 7.1)"
        )
    stripped = text.strip()
    if not stripped:
        raise error(f"invalid {what} {text!r}: expected a non-empty {what} string")
    if len(stripped) > _MAX_LEN[what]:
        limit = _MAX_LEN[what]
        raise error(f"invalid {what} {text[:40]!r}...: expected at most {limit} characters")
    return stripped


def detect_scheme(text: str) -> str:
    """Name of the scheme `text` is auto-detected as (see the module docstring)."""
    return _detect(_check_text(text, "version", InvalidVersion))[0]


# --- versions ---------------------------------------------------------------------


class Version:
    """An immutable firmware version; ordered only against versions of the same domain.

    `text` is the stripped input (``str()`` returns it), `scheme` a name from `SCHEMES`,
    `family` the family for family-based schemes (``U46``, ``iLO 5``, ``A``) else None.
    """

    __slots__ = ("text", "scheme", "family", "_key", "_hash")
    text: str
    scheme: str
    family: str | None
    _key: Key
    _hash: int

    def __init__(self, text: str, scheme: str | None = None) -> None:
        stripped = _check_text(text, "version", InvalidVersion)
        if scheme is None:
            scheme, (family, key) = _detect(stripped)
        else:
            family, key = _parse_forced(stripped, scheme)
        setter = object.__setattr__
        setter(self, "text", stripped)
        setter(self, "scheme", scheme)
        setter(self, "family", family)
        setter(self, "_key", key)
        setter(self, "_hash", hash((scheme, family, key)))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Version is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Version is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Version, (self.text, self.scheme))

    @property
    def is_prerelease(self) -> bool:
        """True for alpha/beta/rc dotted versions such as ``1.2.0-rc1``."""
        return self.scheme == "dotted" and self._key[1] != _FINAL

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<Version({self.text!r}, scheme={self.scheme!r})>"

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (
            self._hash == other._hash
            and self._key == other._key
            and self.scheme == other.scheme
            and self.family == other.family
        )

    def _ordered_key(self, other: Version) -> Key:
        """Own key, after refusing to order across domains."""
        if self.scheme != other.scheme or self.family != other.family or self.scheme == "opaque":
            raise IncomparableVersions(self, other)
        return self._key

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._ordered_key(other) < other._key

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._ordered_key(other) <= other._key

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._ordered_key(other) > other._key

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._ordered_key(other) >= other._key


def _parse_forced(text: str, scheme: str) -> _Parsed:
    parser = _PARSERS.get(scheme) if isinstance(scheme, str) else None
    if parser is None:
        raise InvalidVersion(
            f"unknown version scheme {scheme!r} for {text!r}: expected one of {', '.join(SCHEMES)}"
        )
    parsed = parser(text, True)
    if parsed is None:
        raise InvalidVersion(
            f"invalid version {text!r} for scheme {scheme!r}: expected {_EXPECTED[scheme]}"
        )
    return parsed


@functools.lru_cache(maxsize=8192)
def parse(text: str, scheme: str | None = None) -> Version:
    """Parse `text` as a `Version`, auto-detecting the scheme unless `scheme` forces one.

    Raises `InvalidVersion` for empty text or text that does not fit a forced scheme.
    Results are cached: a fleet reports the same few versions thousands of times.
    """
    return Version(text, scheme)


def _domain_reason(a: Version, b: Version) -> str | None:
    if a.scheme != b.scheme:
        return f"different schemes {a.scheme!r} and {b.scheme!r}"
    if a.family != b.family:
        return f"different {_FAMILY_NAMES.get(a.scheme, 'families')} {a.family} and {b.family}"
    return None


def _incomparability_reason(a: Version, b: Version) -> str | None:
    for v in (a, b):
        if v.scheme == "opaque":
            return f"{v.text!r} fits no version scheme (opaque), so it has no order"
    return _domain_reason(a, b)


def comparable(a: Version, b: Version) -> bool:
    """True when `a` and `b` can be ordered (same scheme, same family, neither opaque)."""
    return _incomparability_reason(a, b) is None


def normalise(text: str, scheme: str, *, date: str | None = None) -> str:
    """`text` written in the notation that auto-detects as `scheme`, same version.

    For a vendor that prints one version two ways: iLO's Manager says ``iLO 5 v2.55``
    where its FirmwareInventory says ``2.55 Oct 01 2021``, so
    ``normalise("iLO 5 v2.55", "hpe-dated", date="Oct 01 2021")`` gives the latter.
    `date` (``Oct 01 2021``, ``Oct 1, 2021`` or ``2021-10-01``) supplies the build
    date an ``hpe-dated`` notation needs. Text already in the notation comes back
    stripped. Raises `InvalidVersion` when `text` has no reading in `scheme`, or the
    notation needs a part that `text` and `date` do not give.
    """
    stripped = _check_text(text, "version", InvalidVersion)
    source = parse(stripped, scheme)  # forced: raises when `text` has no reading in `scheme`
    if scheme == "hpe-dated":
        result = _hpe_dated_text(stripped, date)
    elif detect_scheme(stripped) == scheme:
        result = stripped
    else:
        raise InvalidVersion(f"cannot write {stripped!r} in the notation of scheme {scheme!r}: "
                             f"expected {_EXPECTED[scheme]}")
    written = parse(result)
    if written.scheme != scheme or written != source:  # pragma: no cover - a grammar bug
        raise AssertionError(f"normalise({stripped!r}, {scheme!r}) wrote {result!r}")
    return result


def _hpe_dated_text(text: str, date: str | None) -> str:
    m = _HPE_DATED_RE.fullmatch(text) or _ILO_RE.fullmatch(text)
    assert m is not None  # parse(text, "hpe-dated") accepted it
    if date is None:
        if m.re is _HPE_DATED_RE and m["date"] is not None:
            return text
        raise InvalidVersion(f"cannot write {text!r} as an HPE dated version: it needs the build date "
                             "(such as 'Oct 01 2021')")
    return f"{m['ver']} {_month_day_year(date)}"


def _month_day_year(date: str) -> str:
    text = date.strip()
    m = _DATE_PART_RE.fullmatch(text)
    if m is not None:
        month = m["mon"][0].upper() + m["mon"][1:].lower()
        return f"{month} {int(m['day']):02} {m['year']}"
    iso = _DATE_RES[0].fullmatch(text)
    if iso is not None:
        try:
            day = _dt.date(int(iso["y"]), int(iso["m"]), int(iso["d"]))
            return f"{_MONTHS.split('|')[day.month - 1]} {day.day:02} {day.year}"  # not %b: locale-free
        except ValueError:
            pass
    raise InvalidVersion(f"invalid build date {date!r}: expected a date such as 'Oct 01 2021' or '2021-10-01'")


# --- constraints ------------------------------------------------------------------

_OPS: Final[dict[str, Callable[[Key, Key], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_CLAUSE_RE = re.compile(r"(?P<op>==|!=|>=|<=|>|<)?\s*(?P<rest>.*)", re.DOTALL | _A)
_RANGE_RE = re.compile(r"(?P<lo>.+?)\s+-\s+(?P<hi>.+)", re.DOTALL | _A)
# A wildcard prefix is a bare release (optionally with its HPE family): `7.*`, `U46 v2.*`.
_PREFIX_RE = re.compile(
    rf"(?:[A-Z]\d{{2}}\s+|iLO ?\d+\s+)?[vV]?(?P<rel>{_NUM})(?:-(?P<b>\d+))?", _A
)


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause of a `Constraint`; `prefix_len > 0` makes ``==7.*`` match 7.x."""

    op: str
    version: Version
    prefix_len: int = 0

    def __str__(self) -> str:
        return f"{self.op}{self.version.text}{'.*' if self.prefix_len else ''}"

    def matches(self, v: Version) -> bool:
        """Evaluate against `v`, whose domain the caller has already checked."""
        if not self.prefix_len:
            return _OPS[self.op](v._key, self.version._key)
        n = self.prefix_len
        pad = (0,) * n
        hit = (v._key[0] + pad)[:n] == (self.version._key[0] + pad)[:n]
        return hit if self.op == "==" else not hit


class Constraint:
    """An immutable, hashable set of versions: comma-separated clauses that must all hold.

    Syntax: ``*`` (any); ``==V``, ``!=V``, ``>=V``, ``<=V``, ``>V``, ``<V``; bare ``V``
    (== ``==V``); ``A - B`` (== ``>=A,<=B``; spaces around ``-`` are required since
    ``52.26.0-5179`` is a version); ``==7.*``/``!=7.*`` (first components equal 7;
    pre-releases such as ``7.1rc1`` match too: firmware has no hidden pre-releases).
    All clauses must share one scheme and family. `scheme` (None = auto) forces how
    clause versions and `contains` strings are parsed; it is not part of ``str()``.
    """

    __slots__ = ("scheme", "clauses", "_hash")
    scheme: str | None
    clauses: tuple[Clause, ...]
    _hash: int

    def __init__(self, text: str, scheme: str | None = None) -> None:
        stripped = _check_text(text, "constraint", InvalidConstraint)
        if scheme is not None and scheme not in SCHEMES:
            known = ", ".join(SCHEMES)
            raise _fail(stripped, f"unknown version scheme {scheme!r}; expected one of {known}")
        clauses = _parse_clauses(stripped, scheme)
        setter = object.__setattr__
        setter(self, "scheme", scheme)
        setter(self, "clauses", clauses)
        setter(self, "_hash", hash((scheme, clauses)))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Constraint is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Constraint is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Constraint, (str(self), self.scheme))

    @property
    def is_any(self) -> bool:
        """True for ``*``, which every version satisfies."""
        return not self.clauses

    def contains(self, version: Version | str) -> bool:
        """True when `version` satisfies every clause (a str is parsed with `scheme`).

        Raises `IncomparableVersions` when `version` is not of the constraint's domain.
        """
        v = version if isinstance(version, Version) else parse(version, self.scheme)
        if not self.clauses:
            return True
        first = self.clauses[0].version
        reason = _domain_reason(v, first)
        if reason is not None:
            raise IncomparableVersions(v, first, _incomparability_reason(v, first) or reason)
        return all(c.matches(v) for c in self.clauses)

    def __contains__(self, version: Version | str) -> bool:
        return self.contains(version)

    def __str__(self) -> str:
        return ",".join(str(c) for c in self.clauses) or "*"

    def __repr__(self) -> str:
        forced = f", scheme={self.scheme!r}" if self.scheme else ""
        return f"<Constraint({str(self)!r}{forced})>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Constraint):
            return NotImplemented
        return self.scheme == other.scheme and self.clauses == other.clauses

    def __hash__(self) -> int:
        return self._hash


def _fail(text: str, detail: str) -> InvalidConstraint:
    return InvalidConstraint(f"invalid constraint {text!r}: {detail}")


def _clause_version(text: str, raw: str, scheme: str | None) -> Version:
    try:
        return parse(raw, scheme)
    except InvalidVersion as exc:
        raise _fail(text, str(exc)) from exc


def _parse_clauses(text: str, scheme: str | None) -> tuple[Clause, ...]:
    if text == "*":
        return ()
    clauses: list[Clause] = []
    for raw in text.split(","):
        clauses.extend(_parse_clause(text, raw.strip(), scheme))
    first = clauses[0].version
    for c in clauses[1:]:
        reason = _domain_reason(first, c.version)
        if reason is not None:
            raise _fail(text, f"clauses mix incomparable versions ({reason})")
    return tuple(clauses)


def _parse_clause(text: str, raw: str, scheme: str | None) -> list[Clause]:
    if not raw:
        raise _fail(text, "empty clause; expected clauses like '>=7.00' separated by commas")
    if raw == "*":
        raise _fail(text, "'*' must stand alone")
    m = _CLAUSE_RE.fullmatch(raw)
    assert m is not None  # the pattern accepts any text
    op, rest = m["op"], m["rest"].strip()
    if not rest:
        raise _fail(text, f"expected a version after {op!r}")
    if rest[0] in "=<>!~":
        raise _fail(text, f"unknown operator in {raw!r}; expected ==, !=, >=, <=, > or <")
    if op is None and (rng := _RANGE_RE.fullmatch(rest)) is not None:
        return _parse_range(text, rng["lo"], rng["hi"], scheme)
    if rest.endswith(".*"):
        return [_parse_prefix(text, op or "==", rest[:-2], scheme)]
    if "*" in rest:
        raise _fail(text, f"bad wildcard in {raw!r}; expected a trailing '.*' as in '==7.*'")
    version = _clause_version(text, rest, scheme)
    if op not in (None, "==", "!=") and version.scheme == "opaque":
        raise _fail(text, f"{op!r} needs an orderable version; {rest!r} fits no version scheme")
    return [Clause(op or "==", version)]


def _parse_range(text: str, lo_raw: str, hi_raw: str, scheme: str | None) -> list[Clause]:
    lo = _clause_version(text, lo_raw.strip(), scheme)
    hi = _clause_version(text, hi_raw.strip(), scheme)
    reason = _incomparability_reason(lo, hi)
    if reason is not None:
        raise _fail(text, f"range bounds must be comparable ({reason})")
    if lo > hi:
        raise _fail(text, f"empty range: {lo.text!r} is greater than {hi.text!r}")
    return [Clause(">=", lo), Clause("<=", hi)]


def _parse_prefix(text: str, op: str, raw: str, scheme: str | None) -> Clause:
    m = _PREFIX_RE.fullmatch(raw)
    if op not in ("==", "!=") or m is None:
        raise _fail(text, "wildcards need '==' or '!=' and a dotted version, as in '==7.*'")
    version = _clause_version(text, raw, scheme)
    if version.scheme not in _RELEASE_SCHEMES:
        raise _fail(text, f"wildcard needs a dotted version, not scheme {version.scheme!r}")
    n = m["rel"].count(".") + 1 + (m["b"] is not None)
    return Clause(op, version, n)


@functools.lru_cache(maxsize=1024)
def parse_constraint(text: str, scheme: str | None = None) -> Constraint:
    """Parse a constraint such as ``>=7.00,<8``, ``7.00 - 7.99`` or ``==7.*``.

    Raises `InvalidConstraint` (quoting the input) when the syntax is wrong, a clause
    version does not parse, or clauses mix incomparable versions.
    """
    return Constraint(text, scheme)
