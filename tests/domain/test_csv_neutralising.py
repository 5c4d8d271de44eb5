"""SPEC §8 and OWASP's CSV-injection guidance (issue 20, item 7): every text cell that a spreadsheet
could read as a formula, or any element of a ``;``-joined list in it, is neutralised; ordinary text
and numbers are left as they are. The files themselves (CSV quoting, XLSX cell types) are tested
through HTTP in tests/api/test_small_hardening.py."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from license_usage.domain.exports import FORMULA_STARTS, Instant, csv_field, csv_text, joined, neutralise

# The variants of issue 20 (all were left unchanged before), and more of their kind.
FORMULAS = [
    "=1+1",
    "r;=1+1",  # a list element
    "coach;admin;@SUM(A1)",
    "a;b; -2",  # a list element behind a space
    "\n=1+1",
    "\x0b=1",
    " =1",
    "\xa0=1",
    "\u200b=1",
    "\ufeff=1",  # a byte order mark
    "\u3000+1",  # an ideographic space
    "\u202e=1",  # a right-to-left override
    "\t \u200b=1",
    '"=1+1',
    "＝1+1",
    "＋1",
    "－1",
    "＠SUM(A1)",
    "﹦1",  # small equals sign
    "|cmd",
    "｜cmd",
    "=cmd|' /C calc'!A0",
    "\n",
    "\tx",
    "\rx",
    "\x00=1",
    "−1",  # the minus sign U+2212
]
ORDINARY = ["learn", "a-b", "O'Neil", "a=b", "ann@example.com", "2026-01", "coach;admin", "", "x ", "'already", "ß"]


@pytest.mark.parametrize("text", FORMULAS)
def test_every_formula_variant_gets_a_leading_apostrophe(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert csv_text(text) == "'" + text


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_as_it_is(text: str) -> None:
    assert neutralise(text) == text


def test_a_list_with_a_formula_element_is_neutralised_as_one_cell() -> None:
    assert csv_text(joined(["coach", "=1+1"])) == "'coach;=1+1"
    assert csv_text(joined(["coach", "admin"])) == "coach;admin"


@given(st.text(alphabet=string.ascii_letters + string.digits + " .'_/", max_size=30))
def test_text_that_begins_with_a_letter_or_digit_and_has_no_list_is_left_alone(text: str) -> None:
    text = "a" + text
    assert neutralise(text) == text


@given(
    st.text(alphabet=st.sampled_from(' \xa0\u200b\u2060\ufeff\u3000\t\n\x0b"')),
    st.sampled_from(sorted(FORMULA_STARTS | set("＝＋－＠｜"))),
    st.text(max_size=10),
    st.text(max_size=10),
)
def test_a_formula_start_behind_anything_a_reader_skips_is_neutralised_anywhere_in_a_list(
    skipped: str, start: str, rest: str, before: str
) -> None:
    element = skipped + start + rest
    assert neutralise(element).startswith("'")
    assert neutralise(before.replace(";", "") + ";" + element).startswith("'")


def test_numbers_stay_numbers_for_the_csv_writer_and_the_rest_is_text() -> None:
    assert csv_field(-1) == -1
    assert csv_field(12.5) == 12.5
    assert csv_field(True) == 1
    assert csv_field(None) == ""
    assert csv_field(date(2026, 1, 31)) == "2026-01-31"
    assert csv_field(Instant(datetime(2026, 1, 31, 8, 0, tzinfo=UTC))) == "2026-01-31T08:00:00Z"
    assert csv_field("r;=1+1") == "'r;=1+1"
