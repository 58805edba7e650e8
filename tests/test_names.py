"""Name standardisation: normal forms, surname parts, placeholders, nickname groups, phonetics."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.names import (
    NICKNAMES_CSV,
    is_placeholder_first_name,
    load_name_groups,
    name_groups,
    normalise_first_name,
    normalise_name,
    normalise_name_series,
    phonetic,
    same_name_group,
    surname_parts,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("O'Brien", "obrien"),
        ("O’Brien", "obrien"),
        ("D'Souza", "dsouza"),
        ("Smith-Jones", "smith-jones"),
        ("Smith - Jones", "smith-jones"),
        ("Smith–Jones", "smith-jones"),  # en dash
        ("ZOË", "zoe"),
        ("Zoë", "zoe"),
        ("Łukasz", "lukasz"),
        ("Wójcik", "wojcik"),
        ("Ørsted", "orsted"),
        ("Đorđe", "dorde"),
        ("Strauß", "strauss"),
        ("Æthelred", "aethelred"),
        ("İbrahim", "ibrahim"),
        ("Mr John", "john"),
        ("MRS. Smith", "smith"),
        ("Miss Amelia", "amelia"),
        ("master oliver", "oliver"),
        ("Dr Who", "who"),
        ("Jones Jnr", "jones"),
        ("  mary   jane  ", "mary jane"),
        ("ＪＯＨＮ", "john"),  # full-width letters (NFKC)
        ("Smith2", "smith"),
        ("", None),
        ("   ", None),
        ("NULL", None),
        ("Mr", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_normalise_name(raw, expected):
    assert normalise_name(raw) == expected


@given(st.text(max_size=30))
def test_normalise_name_is_idempotent(raw):
    once = normalise_name(raw)
    assert normalise_name(once) == once
    if once is not None:
        assert once == once.strip() and "  " not in once and once == once.casefold()


@pytest.mark.parametrize(
    "raw, parts",
    [
        ("Smith-Jones", ["smith", "jones", "smithjones"]),
        ("Smith Jones", ["smith", "jones", "smithjones"]),
        ("O'Brien", ["obrien"]),
        ("van der Berg", ["berg", "vanderberg"]),
        ("Al-Hassan", ["hassan", "alhassan"]),
        ("Khan", ["khan"]),
        (None, []),
    ],
)
def test_surname_parts(raw, parts):
    assert surname_parts(raw) == parts


@pytest.mark.parametrize(
    "raw",
    ["Baby", "BABY", "Baby of Smith", "Baby Girl", "Unborn", "unborn child", "NK", "N/K", "Unknown", "Infant",
     "Male", "Female", "Twin 1", "Twin A", "twin-2", "B/O Smith", "Not Known", "Female Twin", "Newborn",
     # who the child is to the person giving the details, written where the name was not known
     "Nephew", "Dad", "Mum", "Step Son", "Cousin",
     # the same in another language
     "Hijo", "HIJA", "Señora", "Senorita", "Madame"],
)
def test_placeholder_first_names(raw):
    assert is_placeholder_first_name(raw)
    assert normalise_first_name(raw) is None


@pytest.mark.parametrize("raw", ["Oliver", "Zoë", "Babette", "Maleeha", "Infanta Sofia", "Twinkle", "J", "Mo",
                                 "Nan", "Dadi", "Mumtaz", "Auntonette", "Nina", "Sirius", "Hijab", "Drew"])
def test_real_first_names_are_not_placeholders(raw):
    assert not is_placeholder_first_name(raw)
    assert normalise_first_name(raw) == normalise_name(raw)


@pytest.mark.parametrize("raw", [None, "", float("nan")])
def test_missing_first_name_is_not_a_placeholder(raw):
    assert not is_placeholder_first_name(raw)


@pytest.mark.parametrize(
    "a, b",
    [
        ("Alfie", "Alfred"), ("Ollie", "Oliver"), ("Izzy", "Isabella"), ("Izzy", "Isabelle"), ("Mo", "Mohammed"),
        ("Mohammed", "Muhammad"), ("Mohamed", "Muhammed"), ("Freddie", "Frederick"), ("Harry", "Henry"),
        ("Harry", "Harold"), ("Charlie", "Charles"), ("Charlie", "Charlotte"), ("Alex", "Alexander"),
        ("Alex", "Alexandra"), ("Evie", "Evelyn"), ("Millie", "Amelia"), ("Ellie", "Eleanor"),
        ("Libby", "Elizabeth"), ("Beth", "Elizabeth"), ("Jack", "John"), ("Jamie", "James"), ("Danny", "Daniel"),
        ("Tommy", "Thomas"), ("Sam", "Samantha"), ("Ben", "Benjamin"), ("Josh", "Joshua"), ("Katie", "Catherine"),
        ("Kate", "Katherine"), ("Maddie", "Madison"), ("Archie", "Archibald"), ("Teddy", "Theodore"),
        ("Teddy", "Edward"), ("Theo", "Theodore"), ("Leo", "Leonardo"), ("Rosie", "Rose"), ("Gracie", "Grace"),
        ("Abbie", "Abigail"), ("Becky", "Rebecca"), ("Jess", "Jessica"), ("Yusuf", "Youssef"), ("Aisha", "Ayesha"),
        ("Fatima", "Fatimah"), ("Ibrahim", "Ebrahim"), ("Zainab", "Zaynab"), ("Abdullah", "Abdulla"),
        ("Hussain", "Hussein"), ("Omar", "Umar"), ("Oleksandr", "Alexander"), ("Mikołaj", "Nicholas"),
        ("ZOË", "Zoe"), ("Alfie", "Alfie"), ("Harvey", "Harvey"),
    ],
)
def test_same_name_group(a, b):
    assert same_name_group(a, b)
    assert same_name_group(b, a)


@pytest.mark.parametrize(
    "a, b",
    [("Harry", "Harvey"), ("Charles", "Charlotte"), ("Alexander", "Alexandra"), ("Oliver", "Olivia"),
     ("Jack", "Jacob"), ("Mohammed", "Ahmed"), ("Mia", "Maya"), ("Alfie", None), (None, None)],
)
def test_not_same_name_group(a, b):
    assert not same_name_group(a, b)


def test_name_groups_shapes():
    assert {"alexander", "alexandra"} <= set(name_groups("Alex"))  # project list + nicknames corpus
    assert name_groups("Harvey") == ["harvey"]  # in no group: its own
    assert name_groups("mohammed") == name_groups("MUHAMMAD") == ["mohammed"]
    assert name_groups(None) == []
    assert {"jack henry", "john"} <= set(name_groups("Jack Henry"))  # not in the file: itself + first word's groups
    assert name_groups("Mary-Jane") == sorted({*name_groups("mary"), "mary-jane"})  # the first word's groups


@pytest.mark.parametrize(("a", "b", "same"), [
    ("Debby", "Deborah", True), ("Beck", "Rebecca", True), ("Ollie", "Oliver", True),  # diminutives kept
    ("Chick", "Charles", False),  # Chick is also Charlotte's and Caroline's: a name of its own
    ("Sandy", "Cassandra", True), ("Amelia", "Isla", False),
])
def test_corpus_diminutives_join_their_name(a, b, same):
    assert same_name_group(a, b) is same


def test_nickname_file_is_well_formed():
    with open(NICKNAMES_CSV, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and set(rows[0]) == {"group", "name"}
    groups = {r["group"] for r in rows}
    assert len(groups) >= 100
    for r in rows:  # the file holds names in their normalised form, so lookups never miss on spelling
        assert normalise_name(r["name"]) == r["name"] and normalise_name(r["group"]) == r["group"]
    members: dict[str, set[str]] = {}
    for r in rows:
        members.setdefault(r["group"], set()).add(r["name"])
    assert all(len(m) >= 2 for m in members.values())
    assert all(g in load_name_groups()[g] for g in groups)


@pytest.mark.parametrize("a, b", [("Mohammed", "Muhammad"), ("Catherine", "Katherine"), ("Smith", "Smyth"),
                                  ("Philip", "Filip")])
def test_phonetic_equal(a, b):
    assert phonetic(a) == phonetic(b) is not None


@pytest.mark.parametrize("a, b", [("Smith", "Jones"), ("Harry", "Harvey")])
def test_phonetic_different(a, b):
    assert phonetic(a) != phonetic(b)


def test_phonetic_missing():
    assert phonetic(None) is None and phonetic("") is None


def test_series_helpers_align_with_scalars():
    raw = pd.Series(["O'Brien", None, "ZOË", "O'Brien", pd.NA], index=[5, 6, 7, 8, 9])
    out = normalise_name_series(raw)
    assert list(out.index) == [5, 6, 7, 8, 9]
    assert out.tolist() == ["obrien", None, "zoe", "obrien", None]


@pytest.mark.parametrize("a, b", [
    ("Zuzia", "Zuzanna"), ("Ola", "Aleksandra"), ("Wojtek", "Wojciech"), ("Tobi", "Tobenna"), ("Harry", "Harrison"),
    ("Mia", "Amelia"), ("Seun", "Oluwaseun"), ("Chi", "Chidi"), ("Ayo", "Ayodele"), ("Luka", "Luca"),
    ("Lukas", "Lucas"), ("Łukasz", "Lucas"), ("Darcy", "Darcie"), ("Jaxon", "Jackson"), ("Zane", "Zayn"),
])
def test_common_diminutives_and_spellings_share_a_group(a, b):
    assert same_name_group(a, b) and same_name_group(b, a)


@pytest.mark.parametrize("a, b", [
    # distinct given names (twins are given such pairs) never share a group, even through a third spelling
    ("Luca", "Lucas"), ("Luca", "Luke"), ("Lucas", "Luke"), ("Tobias", "Tobenna"), ("Harrison", "Henry"),
    ("Mia", "Maya"), ("Amelia", "Amelie"), ("Emily", "Emilia"),
])
def test_distinct_given_names_do_not_share_a_group(a, b):
    assert not same_name_group(a, b)


@pytest.mark.parametrize(("a", "b"), [("Nicholas", "Nick"), ("Katherine", "Kate"), ("Robert", "Bob")])
def test_corpus_nicknames_share_a_group(a, b):
    assert same_name_group(a, b)


@pytest.mark.parametrize(("a", "b"), [("Aaron", "Ron"), ("Albert", "Adelbert")])
def test_corpus_full_names_are_not_merged_as_nicknames(a, b):
    assert not same_name_group(a, b)
