"""Address lines in their compared form (``matching.addresses``): the one-line form, and the whole-drop form that
cleans ASCII lines on Arrow arrays, give the same answer for every line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import addresses
from matching.addresses import standardise_address, standardise_addresses
from schemas.identifiers import map_batch

DEMO = Path(__file__).resolve().parents[1] / "sample_data" / "demo"

_ADDRESS_CHARS = "abcXYZ 0123456789,;\n'`’-./&()éÅ\r\t"


@given(st.lists(st.text(alphabet=_ADDRESS_CHARS, max_size=40), max_size=20))
@settings(max_examples=400, deadline=None)
def test_whole_line_address_cleaning_equals_segment_by_segment(lines: list[str]) -> None:
    """The ASCII lines' cleaning on an Arrow array cleans exactly as ``_clean_segment`` on each part."""
    ascii_lines = [line for line in lines if line.isascii()]
    expected = [[c for c in (addresses._clean_segment(s) for s in addresses._SEGMENT_SPLIT.split(line)) if c]
                for line in ascii_lines]
    assert addresses._clean_ascii_segments(pa.array(ascii_lines, type=pa.large_string())) == expected


@pytest.mark.parametrize(("line", "expected"), [
    ("Flat 2, 14 A High St", ("14a high street", "14a")),
    ("St. John's Rd;  ", ("saint johns road", None)),
    ("12 Ryde Ave,\nLeeds", ("12 ryde avenue", "12")),
    ("Café Row, 3 Élan Gdns", ("3 elan gardens", "3")),
    (" ,;", (None, None)),
])
def test_standardise_address_examples(line: str, expected: tuple[str | None, str | None]) -> None:
    assert standardise_address.__wrapped__(line) == expected


# ASCII lines with every kind of character the cleaning treats apart (letters of both cases, digits, separators,
# apostrophes, other punctuation, whitespace of every kind), and lines with other characters
_ASCII_CHARS = "abcStRdXYZ 0123456789,;\n'`-./&()\r\t\x0b\x00"


@given(st.lists(st.one_of(st.text(alphabet=_ASCII_CHARS, max_size=40), st.text(alphabet=_ADDRESS_CHARS, max_size=40)),
                max_size=30))
@settings(max_examples=300, deadline=None)
def test_whole_drop_form_equals_the_one_line_form(lines: list[str]) -> None:
    assert standardise_addresses(lines) == [standardise_address.__wrapped__(line) for line in lines]


@pytest.fixture(scope="module")
def demo_lines() -> list[str]:
    """The demo drop's staged address lines (each source extracted as the pipeline does)."""
    from connectors import extract_source, load_source_configs
    from svoc.drops import drop_date

    frames = [extract_source(DEMO / cfg.name, cfg, run_id="t", reference_date=drop_date(DEMO)).identity
              for cfg in load_source_configs(None) if (DEMO / cfg.name).is_dir()]
    return sorted(set(pd.concat(frames, ignore_index=True)["address_line"].dropna().astype(str)))


def test_whole_drop_form_on_the_demo_drop_s_address_lines(demo_lines: list[str]) -> None:
    lines = [*demo_lines, "Café Row, 3 Élan Gdns", "14 Rue de l’Église", "Flat 2, 14 A High St"]
    assert len(demo_lines) > 100
    assert standardise_addresses(lines) == [standardise_address.__wrapped__(line) for line in lines]


@pytest.mark.parametrize(("values", "expected"), [
    (["a", None, "b", "a"], [("A", 1), ("none",), ("B", 1), ("A", 1)]),
    ([None, None], [("none",), ("none",)]),
    ([], []),
])
def test_map_batch_calls_once_with_the_distinct_values(values: list, expected: list) -> None:
    calls: list[list] = []

    def func(uniques):
        calls.append(list(uniques))
        return [(str(u).upper(), 1) for u in uniques]

    got = map_batch(pd.Series(values, dtype=object), func, missing=("none",))
    assert list(got) == expected
    assert len(calls) == 1 and sorted(calls[0]) == sorted({v for v in values if v is not None})


def test_map_batch_refuses_a_short_answer() -> None:
    with pytest.raises(ValueError, match="2 values"):
        map_batch(pd.Series(["a", "b"]), lambda uniques: [1])
