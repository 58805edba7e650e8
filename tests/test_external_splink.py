"""The optional Splink demo datasets of the external benchmark (benchmarks.external_splink): a one-line error
when no local copy is at hand, and drops a user's sources.yaml would describe when one is (made-up rows here,
in the files' own layouts)."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks import external, external_splink
from benchmarks.external_data import SchemaSupport
from connectors import load_source_configs

SUPPORT = SchemaSupport(identifiers=True, matching=True)


def _fake_1000(folder) -> None:
    pd.DataFrame({"unique_id": ["0", "1", "2"], "first_name": ["Robert", "Rob", "Ann"],
                  "surname": ["Allen", "Allen", "Cole"], "dob": ["1971-06-24", "1971-06-24", None],
                  "city": ["London", None, "Leeds"], "email": ["r@x.net", "r@x.net", None],
                  "cluster": ["0", "0", "1"]}).to_csv(folder / "fake_1000.csv", index=False)


def _historical(folder) -> None:
    pd.DataFrame({"unique_id": ["Q1-1", "Q1-2"], "cluster": ["Q1", "Q1"], "full_name": ["tom a", "thomas a"],
                  "first_and_surname": ["tom a", "thomas a"], "first_name": ["tom", "thomas"],
                  "surname": ["a", "a"], "dob": ["1630-08-01", None], "birth_place": ["devon", "devon"],
                  "postcode_fake": ["tq13 8df", None], "gender": ["male", None], "occupation": [None, None]}
                 ).to_parquet(folder / "historical_figures_with_errors_50k.parquet")


@pytest.mark.parametrize("name", external.OPTIONAL_DATASETS)
def test_an_optional_dataset_not_at_hand_says_where_to_put_it(name, monkeypatch, tmp_path):
    monkeypatch.setenv(external_splink.ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=external_splink.ENV) as err:
        external.BUILDERS[name](tmp_path / "data", SUPPORT)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("name", "write", "rows", "entities"), [
    ("splink-fake1000", _fake_1000, 3, 2),
    ("splink-historical50k", _historical, 2, 1),
])
def test_an_optional_dataset_at_hand_becomes_a_drop_with_its_truth(name, write, rows, entities, monkeypatch,
                                                                   tmp_path):
    write(tmp_path)
    monkeypatch.setenv(external_splink.ENV, str(tmp_path))
    ds = external.BUILDERS[name](tmp_path / "data", SUPPORT)
    assert len(ds.truth) == rows and ds.truth["entity_id"].nunique() == entities
    [config] = load_source_configs(ds.sources)
    assert config.name == external_splink.SOURCE and config.identity.columns["first_name"] == "first_name"
    assert (ds.drop / external_splink.SOURCE / f"{external_splink.SOURCE}.csv").is_file()
