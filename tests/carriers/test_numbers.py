"""Tracking-number formats: every example in formats.toml, published check digits, and the rule file's checks."""

from __future__ import annotations

import pytest

from carriers.adapters.registry import ADAPTERS, adapter_class
from carriers.numbers import FormatError, _build, format_matches, formats, normalise

ALL = list(formats().values())


@pytest.mark.parametrize("fmt", ALL, ids=[f.id for f in ALL])
def test_every_valid_example_matches_its_format(fmt):
    for number in fmt.valid:
        assert fmt.matches(normalise(number)), f"{fmt.id}: {number!r} should match"


@pytest.mark.parametrize("fmt", ALL, ids=[f.id for f in ALL])
def test_every_invalid_example_is_refused(fmt):
    for number in fmt.invalid:
        assert not fmt.matches(normalise(number)), f"{fmt.id}: {number!r} should not match"


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_adapters_name_only_known_formats(name):
    declared = adapter_class(name).number_formats
    assert set(declared) <= set(formats()), set(declared) - set(formats())


@pytest.mark.parametrize(
    ("number", "format_id"),
    [
        # Published examples whose check digit is computed by each carrier's rule.
        ("1Z999AA10123456784", "ups_1z"),  # UPS: letters as (code - 3) % 10, odd positions doubled
        ("986578788855", "fedex_express_12"),  # FedEx Express: weights 1,3,7 from the right, mod 11, mod 10
        ("9400111206206406260787", "usps_impb_22"),  # USPS IMpb: GS1 mod 10 (3,1 from the right)
        ("RB123456785GB", "s10"),  # UPU S10: weights 8,6,4,2,3,5,9,7, 11 - sum % 11
        ("3318810025", "dhl_express_10"),  # DHL Express: first nine digits mod 7
        ("201298452277", "dhl_paket_12"),  # Deutsche Post Identcode: weights 4,9
    ],
)
def test_published_numbers_pass_their_check_digit(number, format_id):
    assert [f.id for f in format_matches(number, [format_id])] == [format_id]


@pytest.mark.parametrize(
    ("number", "format_id"),
    [
        ("1Z999AA10123456785", "ups_1z"),
        ("986578788856", "fedex_express_12"),
        ("9400111206206406260788", "usps_impb_22"),
        ("RB123456784GB", "s10"),
        ("3318810026", "dhl_express_10"),
        ("201298452276", "dhl_paket_12"),
    ],
)
def test_one_wrong_digit_fails_the_check(number, format_id):
    assert format_matches(number, [format_id]) == []


def test_spaces_dashes_and_case_do_not_matter():
    assert [f.id for f in format_matches(" 1z 999-aa1 0123 4567 84 ", ["ups_1z"])] == ["ups_1z"]


def test_s10_us_accepts_only_numbers_issued_by_usps():
    assert [f.id for f in format_matches("EE123456785US", ["s10_us"])] == ["s10_us"]
    assert format_matches("EE123456785GB", ["s10_us"]) == []


def test_impb_with_the_420_zip_prefix_checks_the_impb_part():
    assert format_matches("420787459400111206206406260787", ["usps_impb_22"])
    assert not format_matches("420787459400111206206406260788", ["usps_impb_22"])


def test_an_sscc_is_ambiguous_between_fedex_and_dhl():
    matched = {f.id for f in format_matches("00340434161094015902", list(formats()))}
    assert {"fedex_sscc_20", "dhl_paket_20"} <= matched


def test_most_confident_format_comes_first():
    found = format_matches("00340434161094015902", list(formats()))
    assert [f.confidence for f in found] == sorted((f.confidence for f in found), reverse=True)


RULE = {"id": "x", "name": "X", "regex": "A", "checksum": "none", "confidence": 0.5, "valid": ["A"], "invalid": ["B"]}


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({**RULE, "regex": "("}, "error"),
        ({**RULE, "checksum": "mod97"}, "checksum must be"),
        ({**RULE, "regex": "[0-9]+", "checksum": "mod10", "weights": [3, 1]}, "named groups"),
        ({**RULE, "regex": "(?P<payload>[0-9]+)(?P<check>[0-9])", "checksum": "mod10"}, "needs weights"),
        ({**RULE, "valid": []}, "example"),
        ({**RULE, "confidence": 2}, "confidence"),
    ],
)
def test_a_bad_rule_is_refused_with_its_reason(entry, problem):
    with pytest.raises(FormatError, match=problem):
        _build(entry)
