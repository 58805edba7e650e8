"""Peers for the external benchmark: plain Splink 5 (its tutorial model) and recordlinkage (its classic
approach), fed the same raw files the pipeline reads, lightly normalised the way their tutorials do.

``peer_records`` reads each source's identity file straight from the drop (pandas, no project code) and maps
its columns through the source's config (``SourceConfig``: presets or sources.yaml), giving one frame with
``unique_id`` (``source:record id``), ``source`` and lower-cased ``first_name``, ``surname``, ISO ``dob``
strings, ``postcode``, ``address``, ``town``, ``sex`` and identifier columns. Both linkers return clusters
(``unique_id``, ``cluster_id``) over every record.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from benchmarks import peers as throughput_peers

SEED = 7
THREADS = 2
SPLINK_PREDICT_THRESHOLD = 0.5
SPLINK_CLUSTER_THRESHOLD = 0.95
RL_WINDOW = 9
RL_MAX_CHANCE_AGREEMENT = 0.1
TEXT_FIELDS = {"first_name": "first_name", "last_name": "surname", "postcode": "postcode", "town": "town",
               "sex": "sex", "address_line": "address"}
ID_FIELDS = ("nhs_number", "upn")
PEER_COLUMNS = ["unique_id", "source", "first_name", "surname", "dob", "postcode", "address", "town", "sex",
                "nhs_number", "upn", "other_id"]


# ------------------------------------------------------------------------------------------------- input
def read_raw(folder: Path, stem: str, encoding: str | None) -> pd.DataFrame:
    """One raw file as strings (CSV, Excel or Parquet); unreadable lines are skipped."""
    for ext in (".csv", ".xlsx", ".parquet"):
        path = folder / f"{stem}{ext}"
        if not path.exists():
            continue
        if ext == ".xlsx":
            return pd.read_excel(path, dtype=str).fillna("")
        if ext == ".parquet":
            return pd.read_parquet(path).astype("string").fillna("")
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding or "utf-8-sig",
                           encoding_errors="replace", on_bad_lines="skip", engine="python")
    raise FileNotFoundError(folder / stem)


def clean_text(values: pd.Series) -> pd.Series:
    """Lower-case, trimmed, inner whitespace collapsed; empty -> None."""
    s = values.astype("string").str.lower().str.strip().str.replace(r"\s+", " ", regex=True)
    return s.astype(object).where(s.notna() & (s != ""), None)


def iso_dates(values: pd.Series, formats: list[str]) -> pd.Series:
    """ISO ``YYYY-MM-DD`` strings from the first format that parses each value (then ISO); else None."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in [*formats, "%Y-%m-%d", "%Y-%m-%d %H:%M:%S"]:
        todo = out.isna()
        if not todo.any():
            break
        out[todo] = pd.to_datetime(values[todo], format=fmt, errors="coerce")
    return out.dt.strftime("%Y-%m-%d").astype(object).where(out.notna(), None)


def source_frame(drop: Path, cfg, identifiers: dict[str, str]) -> pd.DataFrame:
    """One source's identity records on the peer columns. ``identifiers``: canonical id -> raw column for
    an id the config cannot express (mapped to ``other_id``)."""
    ident = cfg.identity
    raw = read_raw(drop / cfg.name, ident.file, ident.encoding)
    raw = raw.drop_duplicates(ident.columns["source_record_id"])

    def field(name: str) -> pd.Series:
        cols = [c for c in ident.source_columns(name) if c in raw]
        if not cols:
            return pd.Series(None, index=raw.index, dtype=object)
        joined = raw[cols].fillna("").astype(str).agg(" ".join, axis=1)
        codes = ident.code_maps.get(name)
        return joined.map(lambda v: codes.get(v, v)) if codes else joined

    out = pd.DataFrame({"unique_id": cfg.name + ":" + raw[ident.columns["source_record_id"]].astype(str),
                        "source": cfg.name})
    for name, col in TEXT_FIELDS.items():
        out[col] = clean_text(field(name))
    out["postcode"] = out["postcode"].str.replace(" ", "", regex=False)
    out["dob"] = iso_dates(field("dob"), list(ident.date_formats))
    for name in ID_FIELDS:
        out[name] = clean_text(field(name).str.replace(r"[\s-]", "", regex=True))
    other = [c for c in identifiers.values() if c in raw]
    out["other_id"] = clean_text(raw[other[0]].str.replace(r"[\s-]", "", regex=True)) if other else None
    return out[PEER_COLUMNS].reset_index(drop=True)


def peer_records(drop: Path, configs: list, identifiers: dict[str, dict[str, str]]) -> pd.DataFrame:
    """Every source of ``drop`` present on disk, on the peer columns."""
    frames = [source_frame(drop, cfg, identifiers.get(cfg.name, {})) for cfg in configs if (drop / cfg.name).is_dir()]
    return pd.concat(frames, ignore_index=True)


def present(records: pd.DataFrame, col: str) -> bool:
    return bool(records[col].notna().any())


def components(ids: pd.Series, left: pd.Series, right: pd.Series) -> pd.DataFrame:
    """Connected components of matched pairs over all ``ids`` (``benchmarks.peers.components``), string ids."""
    out = throughput_peers.components(ids, left, right)
    return out.assign(cluster_id=out["cluster_id"].astype(str))


# ------------------------------------------------------------------------------------------------ Splink
def splink_settings(records: pd.DataFrame, link_type: str):
    """The tutorial model: Jaro-Winkler name comparisons, a DOB comparison, exact matches with term
    frequencies on postcode / town, Jaro-Winkler on the address, identifiers when the data has them."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    comparisons = [cl.NameComparison("first_name"), cl.NameComparison("surname"),
                   cl.DateOfBirthComparison("dob", input_is_string=True)]
    rules = [block_on("first_name", "surname"), block_on("surname", "dob"), block_on("first_name", "dob")]
    for col in ("postcode", "town"):
        if present(records, col):
            comparisons.append(cl.ExactMatch(col).configure(term_frequency_adjustments=True))
    if present(records, "postcode"):
        rules.append(block_on("postcode", "first_name"))
    if present(records, "address"):
        comparisons.append(cl.JaroWinklerAtThresholds("address", [0.9, 0.7]))
    if present(records, "sex"):
        comparisons.append(cl.ExactMatch("sex"))
    for col in ("nhs_number", "upn", "other_id"):
        if present(records, col):
            comparisons.append(cl.DamerauLevenshteinAtThresholds(col, [2]))
            rules.append(block_on(col))
    return SettingsCreator(link_type=link_type, unique_id_column_name="unique_id", comparisons=comparisons,
                           blocking_rules_to_generate_predictions=rules,
                           retain_intermediate_calculation_columns=False)


def run_splink(records: pd.DataFrame, link_type: str = "link_and_dedupe") -> pd.DataFrame:
    """Plain Splink 5: one input table per source, u by random sampling, EM on two blocking rules, then
    connected components of predictions at p >= 0.95. Returns clusters over every record. A drop of one
    source is a dedupe (Splink's ``link_and_dedupe`` needs at least two input tables)."""
    import duckdb
    from splink import DuckDBAPI, Linker, block_on

    con = duckdb.connect()
    con.execute(f"SET threads = {THREADS}")
    con.execute("SET enable_progress_bar = false")
    api = DuckDBAPI(con)
    tables = [api.register(df.reset_index(drop=True), table_name=f"peer_{i}")
              for i, (_, df) in enumerate(records.groupby("source", sort=True))]
    if len(tables) == 1:
        link_type = "dedupe_only"
    linker = Linker(tables, splink_settings(records, link_type), log_level=logging.WARNING)
    training = linker.training
    deterministic = [block_on("first_name", "surname", "dob")]
    training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    training.estimate_u_using_random_sampling(max_pairs=2e6, seed=SEED)
    for rule in (block_on("dob"), block_on("first_name", "surname")):
        training.estimate_parameters_using_expectation_maximisation(rule)
    pred = linker.inference.predict(threshold_match_probability=SPLINK_PREDICT_THRESHOLD)
    pairs = pred.as_pandas_dataframe()
    con.close()
    pairs = pairs[pairs["match_probability"] >= SPLINK_CLUSTER_THRESHOLD]
    return components(records["unique_id"], pairs["unique_id_l"], pairs["unique_id_r"])


# ----------------------------------------------------------------------------------------- recordlinkage
def agreement_by_chance(values: pd.Series) -> float:
    """Probability that two random non-null values are equal (sum of squared value shares)."""
    shares = values.dropna().value_counts(normalize=True)
    return float((shares**2).sum())


def run_recordlinkage(records: pd.DataFrame, link_only: bool = False) -> pd.DataFrame:
    """recordlinkage's classic recipe: candidates from blocking on DOB plus a sorted neighbourhood on the
    surname (records missing the key take no part in that index), binary Jaro-Winkler (>= 0.85) and exact
    comparisons, and the unsupervised ECM classifier. An exact comparison is left out when two random values
    agree by chance with probability >= ``RL_MAX_CHANCE_AGREEMENT`` (sex; a placeholder town or ZIP code),
    since ECM then mistakes that agreement for a match class. The address line is compared only when there
    is no postcode: both say "same household", and two such fields lead ECM to take household members for
    one person (generated 20k drop: precision 0.27 with it, 0.89 without; FEBRL4 F1 0.990 vs 0.988)."""
    import recordlinkage as rl

    df = records.set_index("unique_id")
    indexes = []
    for col, sorted_neighbourhood in (("dob", False), ("surname", True)):
        index = rl.Index()
        if sorted_neighbourhood:
            index.sortedneighbourhood(col, window=RL_WINDOW)
        else:
            index.block(col)
        indexes.append(index.index(df[df[col].notna()]))
    candidates = indexes[0].union(indexes[1])
    if link_only:
        left, right = candidates.get_level_values(0), candidates.get_level_values(1)
        candidates = candidates[left.str.split(":").str[0] != right.str.split(":").str[0]]
    compare = rl.Compare()
    compare.string("first_name", "first_name", method="jarowinkler", threshold=0.85, label="first_name")
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    compare.exact("dob", "dob", label="dob")
    for col in ("postcode", "town", "sex", "nhs_number", "upn", "other_id"):
        if present(records, col) and agreement_by_chance(records[col]) < RL_MAX_CHANCE_AGREEMENT:
            compare.exact(col, col, label=col)
    if present(records, "address") and not present(records, "postcode"):
        compare.string("address", "address", method="jarowinkler", threshold=0.85, label="address")
    features = compare.compute(candidates, df)
    matches = rl.ECMClassifier(binarize=0.5).fit_predict(features)
    return components(records["unique_id"], pd.Series(matches.get_level_values(0)),
                      pd.Series(matches.get_level_values(1)))
