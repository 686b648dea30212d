"""The version schemes added for strings seen on Cisco IMC and HPE iLO (issue 20), and
`normalise`, which rewrites a vendor's second notation of a version into its inventory's.

Real strings come from public captures: Cisco UCS C220 M5 (CIMC 4.1) FirmwareInventory
and ComputerSystem.BiosVersion, an HPE DL360 Gen10 Plus (iLO 5 2.55) FirmwareInventory
and Manager (docs/versions.md names the sources).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwfw.versions import (
    SCHEMES,
    IncomparableVersions,
    InvalidVersion,
    comparable,
    detect_scheme,
    normalise,
    parse,
    parse_constraint,
)
from tests.test_versions import DOMAINS, OPS, PROPS, Sample, cmp, hpe_dated, modern_dates, months

ORDERED: list[tuple[str, list[str]]] = [
    # Cisco IMC (UCS C-series M5) firmware, as Manager.FirmwareVersion and the CIMC member show it
    ("cisco", ["3.0(4j)", "4.0(2f)", "4.1(1h)", "4.1(3)", "4.1(3d)", "4.1(3f)", "4.2(1a)", "4.2(3b)",
               "4.3(2.240002)"]),
    # Cisco UCS C220 M5 BIOS (the ten-digit build stamp never decides)
    ("model-prefixed", ["C220M5.4.1.2b.0.0323202048", "C220M5.4.1.3i.0.0713210713",
                        "C220M5.4.2.2b.0.0613220203"]),
    # Intel X710 / X550 NVM as CIMC reports it: tracking id, then the combo image version
    ("hex-dash", ["0x80001514-1.823.2", "0x80009E63-1.823.2", "0x80007B13-1.2829.0"]),
    # HPE Intelligent Platform Abstraction Data
    ("build-suffix", ["9.2.0 Build 35", "9.2.0 Build 36", "14.1.0 Build 18"]),
]

EQUAL = [
    ("C220M5.4.1.3i.0.0713210713", "C220M5.4.1.3i.0"),  # the stamp is when, not what
    ("c220m5.4.1.3I.0", "C220M5.4.1.3i.0"),
    ("4.1(3D)", "4.1(3d)"),
    ("4.1(3.0)", "4.1(3)"),
    ("9.2.0 Build 35", "9.2 build 35"),
    ("0x80009e63-1.823.2", "0X80009E63-1.823.2.0"),
]

INCOMPARABLE = [
    ("4.1(3d)", "4.1.3"),  # cisco vs dotted
    ("C220M5.4.1.3i.0", "C240M5.4.1.3i.0"),  # different models
    ("C220M5.4.1.3i.0", "4.1(3i)"),
    ("0x80009E63-1.823.2", "1.823.2"),  # hex-dash vs dotted
    ("0x80009E63-1.823.2", "0x80009E63"),  # hex-dash vs hex
    ("9.2.0 Build 35", "9.2.0"),  # build-suffix vs dotted
    ("9.2.0 Build 35", "4.1(3d)"),
]

# Strings that looked like these schemes but must stay what they were.
UNCHANGED = [
    ("SE5C620.86B.02.01.0012.070720200218", "opaque"),  # Intel S2600WF BIOS
    ("4.40 0x8001c967 1.3534.0", "opaque"),  # ethtool triple
    ("1.2 0", "opaque"),  # HPE SPS descriptor
    ("v2.10", "dotted"),
    ("0x15", "hex"),
    ("52.16.3-3913", "dotted"),
]


@pytest.mark.parametrize(("scheme", "text"), [(s, v) for s, vs in ORDERED for v in vs])
def test_detection_and_round_trip(scheme: str, text: str) -> None:
    v = parse(text)
    assert v.scheme == scheme == detect_scheme(text) and str(v) == text
    assert parse(text, scheme) == v


@pytest.mark.parametrize(("left", "right", "expected"), [
    (vs[i], vs[j], (i > j) - (i < j)) for _, vs in ORDERED for i, j in itertools.product(range(len(vs)), repeat=2)])
def test_pairwise_order(left: str, right: str, expected: int) -> None:
    a, b = parse(left), parse(right)
    for op in OPS.values():
        assert op(a, b) is op(expected, 0)


@pytest.mark.parametrize(("left", "right"), EQUAL)
def test_equal_pairs(left: str, right: str) -> None:
    a, b = parse(left), parse(right)
    assert a == b and hash(a) == hash(b) and a <= b and a >= b


@pytest.mark.parametrize(("left", "right"), INCOMPARABLE)
def test_incomparable_pairs(left: str, right: str) -> None:
    a, b = parse(left), parse(right)
    assert not comparable(a, b) and a != b
    with pytest.raises(IncomparableVersions):
        _ = a < b


@pytest.mark.parametrize(("text", "scheme"), UNCHANGED)
def test_earlier_detections_unchanged(text: str, scheme: str) -> None:
    assert detect_scheme(text) == scheme


def test_schemas_list_every_scheme() -> None:
    root = Path(__file__).resolve().parents[1] / "schemas"
    baselines = json.loads((root / "baselines.schema.json").read_text())
    repository = json.loads((root / "repository.schema.json").read_text())
    enums = [found for doc in (baselines, repository) for found in _scheme_enums(doc)]
    assert len(enums) == 2 and all(sorted(e) == sorted(SCHEMES) for e in enums)


def _scheme_enums(node: Any) -> list[list[str]]:
    if isinstance(node, dict):
        here = [node["scheme"]["enum"]] if isinstance(node.get("scheme"), dict) and "enum" in node["scheme"] else []
        return here + [e for v in node.values() for e in _scheme_enums(v)]
    if isinstance(node, list):
        return [e for v in node for e in _scheme_enums(v)]
    return []


def test_families_and_messages() -> None:
    assert parse("C220M5.4.1.3i.0.0713210713").family == "C220M5"
    with pytest.raises(IncomparableVersions, match="different model prefixes C220M5 and C240M5"):
        _ = parse("C220M5.4.1.3i.0") < parse("C240M5.4.1.3i.0")
    with pytest.raises(InvalidVersion, match="expected a Cisco version such as '4.1\\(3d\\)'"):
        parse("4.1.3d", scheme="cisco")
    assert parse("9.2.0", scheme="build-suffix") == parse("9.2.0 Build 0")


@pytest.mark.parametrize(("constraint", "version", "expected"), [
    (">=4.1(3d)", "4.2(1a)", True),
    (">=4.1(3d)", "4.1(3)", False),
    ("4.1(3d) - 4.2(3b)", "4.1(3f)", True),
    ("C220M5.4.1.3i.0 - C220M5.4.2.2b.0", "C220M5.4.1.3i.0.0713210713", True),
    (">0x80009E63-1.823.2", "0x80007B13-1.2829.0", True),
    ("<14.1.0 Build 18", "9.2.0 Build 35", True),
])
def test_constraints(constraint: str, version: str, expected: bool) -> None:
    assert parse_constraint(constraint).contains(version) is expected


# --- normalise ------------------------------------------------------------------------

def test_normalise_ilo_manager_string_to_the_inventory_notation() -> None:
    # iLO 5 2.55 on a DL360 Gen10 Plus: Manager says the one, FirmwareInventory the other.
    text = normalise("iLO 5 v2.55", "hpe-dated", date="Oct 01 2021")
    assert text == "2.55 Oct 01 2021" and detect_scheme(text) == "hpe-dated"
    assert parse(text) < parse("2.81 Mar 27 2023")  # comparable with a baseline in that notation
    assert normalise("iLO 6 v1.59", "hpe-dated", date="2024-02-27") == "1.59 Feb 27 2024"
    assert normalise("iLO 5 v2.96", "hpe-dated", date="aug 17, 2023") == "2.96 Aug 17 2023"
    assert normalise("  2.96 Aug 17 2023 ", "hpe-dated") == "2.96 Aug 17 2023"
    assert normalise("4.1(3d)", "cisco") == "4.1(3d)"


@pytest.mark.parametrize(("text", "scheme", "date", "message"), [
    ("iLO 5 v2.55", "hpe-dated", None, "it needs the build date"),
    ("U46 v2.72", "hpe-dated", "Oct 01 2021", "for scheme 'hpe-dated'"),
    ("iLO 5 v2.55", "hpe-dated", "yesterday", "invalid build date 'yesterday'"),
    ("iLO 5 v2.55", "hpe-dated", "2021-02-30", "invalid build date"),
    ("2.96", "dotted-nothing", None, "unknown version scheme"),
    ("9.2.0", "build-suffix", None, "cannot write '9.2.0' in the notation of scheme 'build-suffix'"),
])
def test_normalise_refusals(text: str, scheme: str, date: str | None, message: str) -> None:
    with pytest.raises(InvalidVersion, match=message):
        normalise(text, scheme, date=date)


def test_forced_hpe_dated_reads_the_ilo_manager_string() -> None:
    assert parse("iLO 5 v2.81", scheme="hpe-dated") == parse("2.81 Mar 27 2023")
    assert parse_constraint(">=2.81", "hpe-dated").contains("iLO 5 v2.96")
    assert detect_scheme("iLO 5 v2.81") == "hpe-rom"  # auto-detection is unchanged


# --- hypothesis: the new schemes behave like the old ones ---------------------------

def _padded(comps: list[int], n: int = 6) -> tuple[int, ...]:
    return tuple(comps) + (0,) * (n - len(comps))


comps = st.lists(st.integers(0, 99), min_size=1, max_size=3)
letters = st.text("abcdefghijklmnopqrstuvwxyz", max_size=2)


def _cisco(t: tuple[int, int, list[int], str, bool]) -> Sample:
    major, minor, maint, suffix, upper = t
    text = f"{major}.{minor}({'.'.join(map(str, maint))}{suffix.upper() if upper else suffix})"
    return text, "cisco", (_padded([major, minor, *maint]), (len(suffix), suffix))


cisco: st.SearchStrategy[Sample] = st.tuples(
    st.integers(0, 9), st.integers(0, 9), st.lists(st.integers(0, 99), min_size=1, max_size=2), letters,
    st.booleans()).map(_cisco)


def model_prefixed(family: str) -> st.SearchStrategy[Sample]:
    def build(t: tuple[list[int], str, int, str | None]) -> Sample:
        ver, suffix, number, stamp = t
        text = f"{family}.{'.'.join(map(str, ver))}{suffix}.{number}" + (f".{stamp}" if stamp else "")
        return text, "model-prefixed", (_padded(ver), (len(suffix), suffix), number)
    return st.tuples(st.lists(st.integers(0, 9), min_size=3, max_size=3), letters, st.integers(0, 9),
                     st.one_of(st.none(), st.from_regex(r"[0-9]{10}", fullmatch=True))).map(build)


hex_dash: st.SearchStrategy[Sample] = st.tuples(st.integers(0, 2**32 - 1), comps, st.booleans()).map(
    lambda t: (f"0x{t[0]:08{'X' if t[2] else 'x'}}-{'.'.join(map(str, t[1]))}", "hex-dash",
               (_padded(t[1]), t[0])))
build_suffix: st.SearchStrategy[Sample] = st.tuples(comps, st.integers(0, 500),
                                                    st.sampled_from(["Build", "build"])).map(
    lambda t: (f"{'.'.join(map(str, t[0]))} {t[2]} {t[1]}", "build-suffix", (_padded(t[0]), t[1])))

NEW_DOMAINS: list[st.SearchStrategy[Sample]] = [cisco, model_prefixed("C220M5"), model_prefixed("C240M5"),
                                                hex_dash, build_suffix]
ALL_DOMAINS = DOMAINS + NEW_DOMAINS
new_domain = st.sampled_from(range(len(NEW_DOMAINS)))


@PROPS
@given(st.one_of(*NEW_DOMAINS))
def test_prop_round_trip_and_detection(sample: Sample) -> None:
    text, scheme, _ = sample
    v = parse(text)
    assert str(v) == text and v.scheme == scheme == detect_scheme(text)
    assert parse(text, scheme) == v and hash(parse(text)) == hash(v)


@PROPS
@given(new_domain.flatmap(lambda i: st.tuples(NEW_DOMAINS[i], NEW_DOMAINS[i], NEW_DOMAINS[i])))
def test_prop_order_matches_model_and_is_total(triple: tuple[Sample, Sample, Sample]) -> None:
    parsed = [(parse(t), key) for t, _, key in triple]
    for (a, ka), (b, kb) in itertools.permutations(parsed, 2):
        assert cmp(a, b) == cmp(ka, kb) and (a == b) is (ka == kb)
        assert [a < b, a == b, a > b].count(True) == 1
    for (a, _), (b, _), (c, _) in itertools.permutations(parsed):
        if a <= b and b <= c:
            assert a <= c


@PROPS
@given(st.lists(st.sampled_from(range(len(ALL_DOMAINS))), min_size=2, max_size=2, unique=True)
       .filter(lambda ij: ij[0] >= len(DOMAINS) or ij[1] >= len(DOMAINS))
       .flatmap(lambda ij: st.tuples(ALL_DOMAINS[ij[0]], ALL_DOMAINS[ij[1]])))
def test_prop_new_schemes_are_incomparable_across_domains(pair: tuple[Sample, Sample]) -> None:
    a, b = (parse(t) for t, _, _ in pair)
    assert not comparable(a, b) and a != b
    with pytest.raises(IncomparableVersions):
        _ = a <= b


@PROPS
@given(hpe_dated, st.integers(4, 7), modern_dates, st.sampled_from(["%b %d %Y", "%Y-%m-%d"]))
def test_prop_normalise_ilo_string_equals_inventory_version(sample: Sample, gen: int, day: Any, fmt: str) -> None:
    text, _, _ = sample
    number = text.split(" ", 1)[0]
    date = f"{months[day.month - 1]} {day.day:02} {day.year}" if fmt.startswith("%b") else day.isoformat()
    written = normalise(f"iLO {gen} v{number}", "hpe-dated", date=date)
    assert detect_scheme(written) == "hpe-dated"
    assert parse(written) == parse(text)  # the date never decides
    assert normalise(written, "hpe-dated") == written  # idempotent
