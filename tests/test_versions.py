"""Tests for hwfw.versions: real vendor strings, pairwise ordering, constraints, properties."""

from __future__ import annotations

import datetime as dt
import itertools
import operator
import pickle
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.versions import (
    SCHEMES,
    Constraint,
    IncomparableVersions,
    InvalidConstraint,
    InvalidVersion,
    Version,
    comparable,
    detect_scheme,
    parse,
    parse_constraint,
)

# --- real vendor strings, each list in the correct sorting order --------------------
# (scheme, list). Every list holds one product line, so every pair is comparable.

ORDERED: list[tuple[str, list[str]]] = [
    # Dell iDRAC9 on PowerEdge R740 / R750 (14G/15G)
    ("dotted", [
        "3.00.00.00", "3.21.21.21", "3.30.30.30", "3.36.36.36", "4.00.00.00",
        "4.10.10.10", "4.20.20.20", "4.22.00.00", "4.40.00.00", "4.40.10.00",
        "5.00.00.00", "5.10.00.00", "5.10.50.00", "6.00.30.00", "6.10.30.00",
        "7.00.00.00", "7.00.60.00", "7.10.30.00",
    ]),
    # Dell iDRAC8 on PowerEdge R630 / R730 (13G)
    ("dotted", ["2.40.40.40", "2.61.60.60", "2.70.70.70", "2.75.75.75", "2.81.81.81",
                "2.83.83.83", "2.84.84.84"]),
    # Dell PowerEdge R750 BIOS (1.10.2 must sort after 1.8.2: numeric components)
    ("dotted", ["1.3.8", "1.5.4", "1.6.5", "1.8.2", "1.10.2", "1.12.1", "1.13.2"]),
    # Dell PowerEdge R740 BIOS
    ("dotted", ["2.12.2", "2.15.1", "2.19.1", "2.21.2"]),
    # Supermicro X11 BMC (leading zeros as the BMC web UI shows them)
    ("dotted", ["01.71.11", "01.73.06", "1.73.12", "01.74.11"]),
    # Supermicro X12 BMC
    ("dotted", ["01.00.25", "01.01.10", "01.02.04", "1.04.16"]),
    # Dell PERC H755 (numeric -NNNN build suffix)
    ("dotted", ["52.14.0-3901", "52.16.1-4405", "52.21.0-4606", "52.26.0-5179"]),
    # Dell PERC H740P
    ("dotted", ["51.13.0-3485", "51.16.0-4076"]),
    # Dell PERC H730P
    ("dotted", ["25.5.6.0009", "25.5.9.0001"]),
    # Mellanox ConnectX-5
    ("dotted", ["16.28.2006", "16.31.1014", "16.35.2000"]),
    # Mellanox ConnectX-6 Dx
    ("dotted", ["22.31.1014", "22.36.1010", "22.41.1000"]),
    # Broadcom 57414 NIC (Dell firmware family numbering)
    ("dotted", ["21.80.16.95", "22.00.07.60", "22.31.6", "22.91.5"]),
    # Intel E810 NVM
    ("dotted", ["2.50", "3.20", "4.20", "4.40", "4.50"]),
    # Intel X710 NVM
    ("dotted", ["8.30", "8.50", "9.20", "9.40"]),
    # HPE iLO 5 FirmwareVersion number (ProLiant Gen10 / Gen10 Plus)
    ("dotted", ["2.72", "2.78", "2.81", "2.96", "3.03"]),
    # HPE iLO 6 (ProLiant Gen11)
    ("dotted", ["1.50", "1.55", "1.59", "1.62"]),
    # HPE Service Pack for ProLiant
    ("dotted", ["2022.09.01.00", "2023.03.00.00", "2023.09.00.00"]),
    # Lenovo XCC firmware level (ThinkSystem SR650)
    ("dotted", ["6.10", "7.30", "8.42"]),
    # pre-release tags as seen on vendor beta/RC firmware (OpenBMC-style release tags)
    ("dotted", ["1.2.0-alpha", "1.2.0a1", "1.2.0-beta.2", "1.2.0b3", "1.2.0-rc1",
                "1.2.0rc2", "1.2.0", "1.2.1-rc1", "1.2.1", "2.0.0a1", "2.0.0", "3.1b2",
                "3.1"]),
    # Dell PERC H710 / PowerEdge 12G DUP letter revisions
    ("dell-letter", ["A00", "A01", "A04", "A10"]),
    # Dell 11G/12G X-revisions (pre-release DUPs)
    ("dell-letter", ["X09", "X27"]),
    # HPE ProLiant DL380 Gen10 Plus System ROM (family U46)
    ("hpe-rom", ["U46 v1.42 (06/20/2022)", "U46 v1.62 (12/16/2022)",
                 "U46 v2.72 (03/25/2023)", "U46 v2.80 (10/03/2023)"]),
    # HPE ProLiant DL360 Gen10 System ROM (family U32)
    ("hpe-rom", ["U32 v2.60 (12/03/2021)", "U32 v2.68 (07/14/2022)"]),
    # HPE ProLiant DL380 Gen9 System ROM (family P89)
    ("hpe-rom", ["P89 v2.80 (10/16/2020)", "P89 v2.90 (04/30/2021)"]),
    # HPE iLO 5 manager FirmwareVersion ("iLO 5 v2.96")
    ("hpe-rom", ["iLO 5 v2.72", "iLO 5 v2.81", "iLO 5 v2.96"]),
    # HPE iLO 5 firmware inventory Version with build date
    ("hpe-dated", ["2.72 Sep 04 2022", "2.81 Mar 14 2023", "2.96 Aug 17 2023"]),
    # HPE ProLiant Gen10 Plus System Programmable Logic Device (CPLD)
    ("hex", ["0x0A", "0x0F", "0x11", "0x1E"]),
    # SMBIOS type 0 BIOS release date (MM/DD/YYYY), Redfish ReleaseDate, YYYYMMDD stamps
    ("date", ["01/15/2021", "2022-03-04", "20230615", "2024-01-31"]),
]

# Opaque: parse fine, equal only to themselves, never ordered.
OPAQUE = [
    "47RA906J",  # vendor build id
    "HPE-CPLD-rev-B",  # HPE CPLD board revision label
    "Tatlow-X12",  # Supermicro X12 (Tatlow) platform label
    "TGBT62P",  # Lenovo XCC build id (ThinkSystem SR650)
    "SE5C620.86B.02.01.0012.070720200218",  # Intel S2600WF BIOS
    "2.12.0-dev-1024-g0b1c2d3e4",  # OpenBMC git-describe build
    "4.40 0x8001c967 1.3534.0",  # Intel E810 ethtool firmware-version triple
]

EQUAL = [
    ("7.10", "7.10.00"),  # Dell iDRAC: trailing zero components are insignificant
    ("7.10.30.00", "7.10.30"),  # Dell iDRAC9
    ("01.73.12", "1.73.12"),  # Supermicro X11 BMC: leading zeros are insignificant
    ("v2.10", "2.10"),  # optional v prefix
    ("52.26.0-5179", "52.26.0.5179"),  # Dell PERC H755: build suffix is a component
    ("1.0-alpha", "1.0a0"),
    ("1.2.0-rc1", "1.2-RC1"),
    ("2.0.0a1", "2.0.0-alpha.1"),
    ("0x0A", "0xa"),  # HPE CPLD
    ("0x11", "0X011"),
    ("20230615", "06/15/2023"),
    ("2023-06-15", "6/15/2023"),
    ("U46 v2.72 (03/25/2023)", "U46 v2.72"),  # HPE DL380 Gen10 Plus: date never decides
    ("iLO 5 v2.96", "iLO5 v2.96"),
    ("2.96 Aug 17 2023", "2.96 Sep 01 2023"),  # hpe-dated: date ignored
    ("A04", "a04"),  # Dell letter revision, case-insensitive
    ("47RA906J", "47RA906J"),  # opaque: exact text
]

INCOMPARABLE = [
    ("A04", "7.10"),  # different schemes
    ("A04", "X27"),  # different Dell letters
    ("U46 v2.72", "U32 v2.68"),  # different HPE ROM families
    ("iLO 5 v2.96", "iLO 6 v1.59"),
    ("iLO 5 v2.96", "2.96"),  # hpe-rom vs dotted: hwfw never guesses
    ("2.96 Aug 17 2023", "2.96"),  # hpe-dated vs dotted
    ("2.96 Aug 17 2023", "iLO 5 v2.96"),
    ("U46 v2.72", "2.72"),
    ("0x11", "11"),  # hex vs dotted
    ("20230615", "2023.06.15"),  # date vs dotted
    ("X27", "U46 v2.72"),
    ("47RA906J", "47RA907J"),  # opaque vs opaque
    ("47RA906J", "7.10"),  # opaque vs anything
    ("HPE-CPLD-rev-B", "0x0B"),
]

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq,
    "!=": operator.ne, ">=": operator.ge, ">": operator.gt,
}


def test_table_has_at_least_60_real_strings() -> None:
    strings = {s for _, versions in ORDERED for s in versions} | set(OPAQUE)
    assert len(strings) >= 60


@pytest.mark.parametrize(("scheme", "text"), [(s, v) for s, vs in ORDERED for v in vs])
def test_detection_and_round_trip(scheme: str, text: str) -> None:
    v = parse(text)
    assert v.scheme == scheme == detect_scheme(text)
    assert str(v) == text
    assert str(parse(f"  {text}\t")) == text
    assert parse(text, scheme) == v


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (vs[i], vs[j], (i > j) - (i < j))
        for _, vs in ORDERED
        for i, j in itertools.product(range(len(vs)), repeat=2)
    ],
)
def test_pairwise_order(left: str, right: str, expected: int) -> None:
    a, b = parse(left), parse(right)
    assert comparable(a, b)
    for name, op in OPS.items():
        assert op(a, b) is op(expected, 0), f"{left} {name} {right}"


@pytest.mark.parametrize(("left", "right"), EQUAL)
def test_equal_pairs(left: str, right: str) -> None:
    a, b = parse(left), parse(right)
    assert a == b and not a != b and hash(a) == hash(b)
    assert {a, b} == {a}
    if a.scheme != "opaque":
        assert a <= b and a >= b and not a < b and not a > b


@pytest.mark.parametrize(("left", "right"), INCOMPARABLE)
@pytest.mark.parametrize("name", ["<", "<=", ">", ">="])
def test_incomparable_pairs(left: str, right: str, name: str) -> None:
    a, b = parse(left), parse(right)
    assert not comparable(a, b) and not comparable(b, a)
    assert a != b and not a == b
    for x, y in ((a, b), (b, a)):
        with pytest.raises(IncomparableVersions) as info:
            OPS[name](x, y)
        assert info.value.a is x and info.value.b is y


@pytest.mark.parametrize(
    ("left", "right", "message"),
    [
        ("A04", "7.10",
         "cannot compare 'A04' and '7.10': different schemes 'dell-letter' and 'dotted'"),
        ("U46 v2.72", "U32 v2.68",
         "cannot compare 'U46 v2.72' and 'U32 v2.68': different HPE ROM families U46 and U32"),
        ("A04", "X27", "cannot compare 'A04' and 'X27': different Dell letter revisions A and X"),
        ("7.10", "47RA906J", "cannot compare '7.10' and '47RA906J': "
         "'47RA906J' fits no version scheme (opaque), so it has no order"),
    ],
)
def test_incomparable_messages(left: str, right: str, message: str) -> None:
    with pytest.raises(IncomparableVersions) as info:
        _ = parse(left) < parse(right)
    assert str(info.value) == message
    assert isinstance(info.value, TypeError)


def test_opaque_equal_to_itself_but_unordered() -> None:
    for text in OPAQUE:
        v = parse(text)
        assert v.scheme == "opaque" and v.family is None and str(v) == text
        assert v == parse(text) and v != parse(text + "x")
        with pytest.raises(IncomparableVersions):
            _ = v <= parse(text)


def test_numeric_components_not_decimal_fractions() -> None:
    assert parse("4.10") > parse("4.2")  # Intel/HPE style minor numbers
    assert parse("1.10.2") > parse("1.8.2")  # Dell R750 BIOS


def test_hpe_rom_date_never_decides() -> None:
    assert parse("U46 v2.72 (01/01/2020)") > parse("U46 v2.70 (12/31/2024)")
    assert parse("U46 v2.72 (01/01/2020)") == parse("U46 v2.72 (12/31/2024)")


def test_families_and_repr() -> None:
    assert parse("U46 v2.72 (03/25/2023)").family == "U46"
    assert parse("iLO5 v2.96").family == "iLO 5"
    assert parse("A04").family == "A"
    assert parse("7.10.30.00").family is None
    assert repr(parse("7.10.30.00")) == "<Version('7.10.30.00', scheme='dotted')>"


def test_prerelease_versus_build_suffix() -> None:
    assert parse("1.2.0-rc1") < parse("1.2.0") < parse("1.2.0-5179")
    assert parse("1.2.0-rc1").is_prerelease and not parse("52.26.0-5179").is_prerelease
    assert parse("1.0-alpha") < parse("1.0-beta") < parse("1.0-rc") < parse("1.0")
    assert parse("1.0b10") > parse("1.0b9")


def test_forcing_a_scheme() -> None:
    assert parse("2.96", scheme="dotted").scheme == "dotted"
    forced = parse("2.96", scheme="hpe-dated")
    assert forced == parse("2.96 Aug 17 2023") and forced.scheme == "hpe-dated"
    assert parse("2023.06.15", scheme="date") == parse("2023-06-15")
    assert parse("20230615", scheme="dotted") > parse("20230614", scheme="dotted")
    assert parse("7.10", scheme="opaque").scheme == "opaque"
    assert parse("v10").scheme == "dotted" and parse("V10", scheme="dell-letter").family == "V"


def test_date_detection_needs_a_valid_date() -> None:
    assert detect_scheme("20231345") == "dotted"
    assert detect_scheme("20230230") == "dotted"
    assert detect_scheme("18991231") == "dotted"
    assert detect_scheme("2023.06.15") == "dotted"


def test_invalid_version_messages() -> None:
    with pytest.raises(InvalidVersion) as info:
        parse("   ")
    assert str(info.value) == "invalid version '   ': expected a non-empty version string"
    with pytest.raises(InvalidVersion) as info:
        parse("A04", scheme="dotted")
    assert str(info.value) == (
        "invalid version 'A04' for scheme 'dotted': expected dotted numbers such as "
        "'7.10.30.00', '52.26.0-5179' or '1.2.0-rc1'"
    )
    with pytest.raises(InvalidVersion, match="unknown version scheme 'semver'"):
        parse("1.2.3", scheme="semver")
    with pytest.raises(InvalidVersion, match="'U46 v2.72' for scheme 'date'"):
        parse("U46 v2.72", scheme="date")
    assert isinstance(info.value, ValueError)


def test_unusual_input() -> None:
    assert parse("\u0667.\u0661\u0660").scheme == "opaque"  # Arabic-Indic digits: not numbers
    with pytest.raises(InvalidVersion, match="expected at most 256 characters"):
        parse("1" * 5000)
    assert parse("1." * 127 + "1").scheme == "dotted"


def test_non_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unquoted 7.10 loads as the float 7.1"):
        parse(7.1)  # type: ignore[arg-type]


def test_version_is_immutable_and_picklable() -> None:
    v = parse("U46 v2.72 (03/25/2023)")
    with pytest.raises(AttributeError):
        v.text = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del v.scheme
    assert pickle.loads(pickle.dumps(v)) == v
    err = pickle.loads(pickle.dumps(IncomparableVersions(parse("A04"), parse("X27"))))
    assert str(err).endswith("different Dell letter revisions A and X")


def test_comparisons_with_other_types() -> None:
    v = parse("7.10")
    assert v != "7.10" and not v == 7.1
    with pytest.raises(TypeError):
        _ = v < "7.10"  # type: ignore[operator]


def test_schemes_listed_in_detection_order() -> None:
    assert SCHEMES == ("hpe-rom", "hpe-dated", "hex", "date", "dotted", "dell-letter", "cisco",
                       "model-prefixed", "hex-dash", "build-suffix", "opaque")


# --- constraints ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraint", "version", "expected"),
    [
        (">=7.00,<8", "7.10.30.00", True),  # Dell iDRAC9 baseline
        (">=7.00,<8", "6.10.30.00", False),
        (">=7.00,<8", "8.00.00.00", False),
        (">=7.00,<8", "7.99.99.99", True),
        ("==2.10.0", "2.10", True),
        ("==2.10.0", "2.10.1", False),
        ("!=1.2", "1.2.0", False),
        ("!=1.2", "1.3", True),
        (">1", "1.0.0", False),
        (">1", "1.0.1", True),
        ("<=3", "3.0", True),
        ("<=3", "3.0.1", False),
        ("<3", "3.0-rc1", True),  # a pre-release is below its release
        ("7.10", "7.10.00", True),  # bare version means ==
        ("7.10", "7.1", False),
        ("*", "anything-at-all", True),
        ("*", "A04", True),
        ("7.00 - 7.99", "7.00", True),  # ranges are inclusive
        ("7.00 - 7.99", "7.99", True),
        ("7.00 - 7.99", "7.99.1", False),
        ("7.00 - 7.99", "6.99", False),
        ("==7.*", "7.10.30.00", True),
        ("==7.*", "07.00", True),
        ("==7.*", "70.1", False),
        ("==7.*", "6.99", False),
        ("==7.1.*", "7.1", True),
        ("==7.1.*", "7.10.30.00", False),
        ("7.0.*", "7", True),
        ("!=7.*", "8.0", True),
        ("!=7.*", "7.0.1", False),
        ("==52.26.0-5179.*", "52.26.0.5179.2", True),  # Dell PERC H755
        (">=U46 v2.60", "U46 v2.72 (03/25/2023)", True),  # HPE DL380 Gen10 Plus ROM
        ("U46 v1.40 - U46 v1.99", "U46 v2.72 (03/25/2023)", False),
        ("==U46 v2.*", "U46 v2.72 (03/25/2023)", True),
        (">=A04", "A10", True),  # Dell PERC H710
        (">=A04", "A01", False),
        (">0x0F", "0x11", True),  # HPE CPLD
        (">=2023-01-01", "06/15/2023", True),
        ("==47RA906J", "47RA906J", True),  # opaque equality
        ("!=47RA906J", "47RA907J", True),
        ("  >= 7.00 ,  < 8 ", "7.5", True),
    ],
)
def test_constraint_contains(constraint: str, version: str, expected: bool) -> None:
    c = parse_constraint(constraint)
    assert c.contains(version) is expected
    assert c.contains(parse(version)) is expected
    assert (version in c) is expected


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        (" >= 7.00 , < 8 ", ">=7.00,<8"),
        ("7.10", "==7.10"),
        ("7.00 - 7.99", ">=7.00,<=7.99"),
        ("*", "*"),
        (" * ", "*"),
        ("7.*", "==7.*"),
        ("U46 v2.60 - U46 v2.80", ">=U46 v2.60,<=U46 v2.80"),
    ],
)
def test_constraint_normalised_text(text: str, normalised: str) -> None:
    c = parse_constraint(text)
    assert str(c) == normalised
    assert parse_constraint(normalised) == c and hash(parse_constraint(normalised)) == hash(c)


def test_constraint_properties() -> None:
    assert parse_constraint("*").is_any and not parse_constraint(">=1").is_any
    assert parse_constraint(">=7.10") == Constraint(">=7.10.00")
    assert parse_constraint(">=7.10") != parse_constraint(">7.10")
    forced = parse_constraint(">=2.90", "hpe-dated")
    assert repr(forced) == "<Constraint('>=2.90', scheme='hpe-dated')>"
    c = parse_constraint(">=1")
    with pytest.raises(AttributeError):
        c.scheme = "dotted"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(c)) == c
    with pytest.raises(TypeError, match="float 7.1"):
        _ = 7.1 in c  # a YAML float never silently fails to match


def test_constraint_with_forced_scheme() -> None:
    c = parse_constraint(">=2.90,<3", scheme="hpe-dated")
    assert c.contains("2.96 Aug 17 2023")
    assert c.contains("2.96")  # parsed with the constraint's scheme
    with pytest.raises(IncomparableVersions):
        c.contains(parse("2.96"))  # an auto-detected dotted version is another scheme
    assert parse_constraint("==2023.06.*", "dotted").contains("2023.06.15")


@pytest.mark.parametrize(
    ("constraint", "version", "message"),
    [
        (">=7.00", "A04",
         "cannot compare 'A04' and '7.00': different schemes 'dell-letter' and 'dotted'"),
        (">=A04", "X27", "cannot compare 'X27' and 'A04': different Dell letter revisions X and A"),
        ("==U46 v2.72", "U32 v2.72",
         "cannot compare 'U32 v2.72' and 'U46 v2.72': different HPE ROM families U32 and U46"),
        ("==7.10", "47RA906J",
         "cannot compare '47RA906J' and '7.10': "
         "'47RA906J' fits no version scheme (opaque), so it has no order"),
        ("==7.*", "2.96 Aug 17 2023",
         "cannot compare '2.96 Aug 17 2023' and '7': different schemes 'hpe-dated' and 'dotted'"),
        ("==47RA906J", "7.10",
         "cannot compare '7.10' and '47RA906J': "
         "'47RA906J' fits no version scheme (opaque), so it has no order"),
    ],
)
def test_constraint_incomparable_raises(constraint: str, version: str, message: str) -> None:
    with pytest.raises(IncomparableVersions) as info:
        parse_constraint(constraint).contains(version)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid constraint '': expected a non-empty constraint string"),
        (">=", "invalid constraint '>=': expected a version after '>='"),
        ("~=1.2", "invalid constraint '~=1.2': unknown operator in '~=1.2'; "
         "expected ==, !=, >=, <=, > or <"),
        ("=7", "invalid constraint '=7': unknown operator in '=7'; "
         "expected ==, !=, >=, <=, > or <"),
        (">=7,,<8", "invalid constraint '>=7,,<8': empty clause; "
         "expected clauses like '>=7.00' separated by commas"),
        ("*,>=1", "invalid constraint '*,>=1': '*' must stand alone"),
        ("8 - 7", "invalid constraint '8 - 7': empty range: '8' is greater than '7'"),
        (">=7.00,<A10", "invalid constraint '>=7.00,<A10': clauses mix incomparable versions "
         "(different schemes 'dotted' and 'dell-letter')"),
        (">=47RA906J", "invalid constraint '>=47RA906J': '>=' needs an orderable version; "
         "'47RA906J' fits no version scheme"),
        ("7.00 - A10", "invalid constraint '7.00 - A10': range bounds must be comparable "
         "(different schemes 'dotted' and 'dell-letter')"),
        ("7*", "invalid constraint '7*': bad wildcard in '7*'; "
         "expected a trailing '.*' as in '==7.*'"),
        (">=7.*", "invalid constraint '>=7.*': wildcards need '==' or '!=' and a dotted version, "
         "as in '==7.*'"),
        ("==A.*", "invalid constraint '==A.*': wildcards need '==' or '!=' and a dotted version, "
         "as in '==7.*'"),
        (">=abc", "invalid constraint '>=abc': '>=' needs an orderable version; "
         "'abc' fits no version scheme"),
    ],
)
def test_invalid_constraint_messages(text: str, message: str) -> None:
    with pytest.raises(InvalidConstraint) as info:
        parse_constraint(text)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_invalid_constraint_unknown_scheme() -> None:
    message = "invalid constraint '\\*': unknown version scheme 'semver'"
    with pytest.raises(InvalidConstraint, match=message):
        parse_constraint("*", scheme="semver")


def test_invalid_constraint_wraps_forced_scheme_error() -> None:
    with pytest.raises(InvalidConstraint) as info:
        parse_constraint(">=A04", scheme="dotted")
    assert str(info.value) == (
        "invalid constraint '>=A04': invalid version 'A04' for scheme 'dotted': expected "
        "dotted numbers such as '7.10.30.00', '52.26.0-5179' or '1.2.0-rc1'"
    )


def test_errors_share_the_hwfw_root_when_available() -> None:
    errors = pytest.importorskip("hwfw.errors")
    for cls in (InvalidVersion, InvalidConstraint, IncomparableVersions):
        assert issubclass(cls, errors.HwfwError)


# --- hypothesis strategies: (text, scheme, model key) per domain ---------------------

Sample = tuple[str, str, Any]
small = st.one_of(st.integers(0, 3), st.integers(0, 2000))


@st.composite
def padded(draw: st.DrawFn, n: int) -> str:
    """`n` as text with 0-2 leading zeros (insignificant, as on Supermicro BMCs)."""
    return "0" * draw(st.integers(0, 2)) + str(n)


@st.composite
def dotted(draw: st.DrawFn, prerelease: bool = True, build: bool = True) -> Sample:
    comps = draw(st.lists(small, min_size=1, max_size=5))
    text = draw(st.sampled_from(["", "v", "V"])) + ".".join([draw(padded(c)) for c in comps])
    if build and draw(st.booleans()):
        comps.append(draw(small))
        text += "-" + draw(padded(comps[-1]))
    rank, num = 3, 0
    if prerelease and draw(st.booleans()):
        rank = draw(st.integers(0, 2))
        words = [("alpha", "a", "ALPHA"), ("beta", "b", "Beta"), ("rc", "RC")][rank]
        word = draw(st.sampled_from(words))
        num = draw(st.integers(0, 12))
        has_num = num != 0 or draw(st.booleans())
        text += draw(st.sampled_from(["", "-", ".", "_"])) + word
        if has_num:
            text += draw(st.sampled_from(["", ".", "-"])) + str(num)
    return text, "dotted", (tuple(comps) + (0,) * (8 - len(comps)), rank, num)


def release(max_size: int = 3) -> st.SearchStrategy[tuple[str, tuple[int, ...]]]:
    comps = st.lists(st.integers(0, 99), min_size=1, max_size=max_size)
    return comps.map(lambda c: (".".join(map(str, c)), tuple(c) + (0,) * (4 - len(c))))


modern_dates = st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31))


def hpe_rom(family: str) -> st.SearchStrategy[Sample]:
    date = st.one_of(st.just(""), modern_dates.map(lambda d: d.strftime(" (%m/%d/%Y)")))
    return st.tuples(release(), date).map(
        lambda r: (f"{family} v{r[0][0]}{r[1]}", "hpe-rom", r[0][1]))


months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
hpe_dated: st.SearchStrategy[Sample] = st.tuples(release(), modern_dates).map(
    lambda r: (
        f"{r[0][0]} {months[r[1].month - 1]} {r[1].day:02} {r[1].year}", "hpe-dated", r[0][1]
    ))
hexes: st.SearchStrategy[Sample] = st.tuples(
    st.integers(0, 4096), st.sampled_from(["0x", "0X"]), st.sampled_from(["x", "X"]),
    st.integers(0, 2),
).map(lambda t: (t[1] + "0" * t[3] + format(t[0], t[2]), "hex", t[0]))
date_formats = ["%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"]
dates: st.SearchStrategy[Sample] = st.tuples(
    modern_dates, st.sampled_from(date_formats),
).map(lambda t: (t[0].strftime(t[1]), "date", t[0]))


def dell_letter(letter: str) -> st.SearchStrategy[Sample]:
    return st.integers(0, 99).map(lambda n: (f"{letter}{n:02}", "dell-letter", n))


opaque: st.SearchStrategy[Sample] = st.from_regex(
    r"[A-Z]{3,6}-[a-z]{1,5}-[A-Z0-9]{1,4}", fullmatch=True).map(lambda s: (s, "opaque", s))

# One strategy per ordering domain (scheme + family): any two draws are comparable.
DOMAINS: list[st.SearchStrategy[Sample]] = [
    dotted(), hpe_rom("U46"), hpe_rom("iLO 5"), hpe_dated, hexes, dates,
    dell_letter("A"), dell_letter("X"),
]
any_domain = st.sampled_from(range(len(DOMAINS)))
PROPS = settings(max_examples=200, deadline=None)


def cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


@PROPS
@given(st.one_of(*DOMAINS, opaque))
def test_prop_round_trip_and_detection(sample: Sample) -> None:
    text, scheme, _ = sample
    v = parse(text)
    assert str(v) == text and v.scheme == scheme == detect_scheme(text)
    assert parse(str(v)) == v and Version(text) == v and hash(Version(text)) == hash(v)
    assert parse(text, scheme) == v


@PROPS
@given(any_domain.flatmap(lambda i: st.tuples(DOMAINS[i], DOMAINS[i])))
def test_prop_order_matches_model(pair: tuple[Sample, Sample]) -> None:
    (ta, _, ka), (tb, _, kb) = pair
    a, b = parse(ta), parse(tb)
    assert cmp(a, b) == cmp(ka, kb)
    assert (a == b) is (ka == kb)
    if a == b:
        assert hash(a) == hash(b)


@PROPS
@given(any_domain.flatmap(lambda i: st.tuples(DOMAINS[i], DOMAINS[i], DOMAINS[i])))
def test_prop_total_order(triple: tuple[Sample, Sample, Sample]) -> None:
    a, b, c = (parse(t) for t, _, _ in triple)
    for x, y in itertools.permutations((a, b, c), 2):
        assert [x < y, x == y, x > y].count(True) == 1  # totality, trichotomy
        assert (x <= y) is (x < y or x == y) and (x >= y) is (x > y or x == y)
        assert (x != y) is (not x == y)
        if x <= y and y <= x:
            assert x == y  # antisymmetry
    for x, y, z in itertools.permutations((a, b, c)):
        if x <= y and y <= z:
            assert x <= z  # transitivity
        if x < y and y < z:
            assert x < z


@PROPS
@given(st.lists(any_domain, min_size=2, max_size=2, unique=True).flatmap(
    lambda ij: st.tuples(DOMAINS[ij[0]], DOMAINS[ij[1]])))
def test_prop_different_domains_are_incomparable(pair: tuple[Sample, Sample]) -> None:
    a, b = (parse(t) for t, _, _ in pair)
    assert not comparable(a, b) and a != b
    with pytest.raises(IncomparableVersions):
        _ = a < b


@PROPS
@given(dotted(), dotted(), st.sampled_from(["==", "!=", ">=", "<=", ">", "<", ""]))
def test_prop_constraint_agrees_with_comparison(clause: Sample, ver: Sample, op: str) -> None:
    c, v = parse(clause[0]), parse(ver[0])
    constraint = parse_constraint(f"{op}{clause[0]}")
    assert constraint.contains(v) is OPS[op or "=="](v, c)
    assert constraint.contains(ver[0]) is OPS[op or "=="](v, c)
    assert parse_constraint(str(constraint)) == constraint


@PROPS
@given(dotted(), dotted(), dotted())
def test_prop_range_agrees_with_comparison(lo: Sample, hi: Sample, ver: Sample) -> None:
    a, b, v = parse(lo[0]), parse(hi[0]), parse(ver[0])
    if a > b:
        a, b, lo, hi = b, a, hi, lo  # sorting beats assume(): no discarded examples
    constraint = parse_constraint(f"{lo[0]} - {hi[0]}")
    assert constraint.contains(v) is (a <= v <= b)
    both = parse_constraint(f">{lo[0]}, <{hi[0]}")
    assert both.contains(v) is (a < v < b)


@PROPS
@given(dotted(prerelease=False, build=False), dotted(), st.sampled_from(["==", "!="]))
def test_prop_wildcard_matches_leading_components(prefix: Sample, ver: Sample, op: str) -> None:
    text, _, (pkey, _, _) = prefix
    n = text.count(".") + 1
    expected = ver[2][0][:n] == pkey[:n]
    if op == "!=":
        expected = not expected
    assert parse_constraint(f"{op}{text}.*").contains(ver[0]) is expected
