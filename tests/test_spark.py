"""The Spark engine (``SVOC_ENGINE=spark``): the model's SQL on Spark, the same links and ids as DuckDB, and the
Parquet copy of the published warehouse.

Pure tests run everywhere. Tests marked ``spark`` start one shared SparkSession (``local[2]``, PySpark from PyPI,
Java from Debian) on a small synthetic drop; together they stay within a few minutes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching.spark.dialect import UntranslatableSQL, to_spark
from matching.spark.similarity import jaro_winkler
from matching.twin_guard import TwinGuard
from svoc.settings import Settings, writes_parquet
from svoc.warehouse import parquet
from tests.e2e import query, run_cli

CHILDREN = 250
SEED = 15


# ------------------------------------------------------------------------------------------- pure: dialect
@pytest.mark.parametrize(("duckdb_sql", "spark_parts"), [
    ("coalesce(len(list_intersect(a_l, a_r)) >= 1, false)", ["SIZE(ARRAY_INTERSECT(a_l, a_r))"]),
    ("jaro_winkler_similarity(f_l, f_r) >= 0.92", ["SVOC_JARO_WINKLER(f_l, f_r) >= 0.92"]),
    ("damerau_levenshtein(f_l, f_r) <= 1", ["DAMERAU_LEVENSHTEIN(f_l, f_r) <= 1"]),
    ("list_contains(string_split(m_r, ' '), f_l)", ["ARRAY_CONTAINS(SPLIT(m_r"]),
    ("abs(date_diff('day', dob_l, dob_r)) <= 1", ["ABS(DATEDIFF(dob_r, dob_l)) <= 1"]),
    ("starts_with(f_l, f_r)", ["STARTSWITH(f_l, f_r)"]),
    ("len(list_distinct(a_l)) = 1", ["SIZE(ARRAY_DISTINCT(a_l)) = 1"]),
    ("list_has_any(a_l, a_r)", ["ARRAYS_OVERLAP(a_l, a_r)"]),
    ("l.first_name_groups[1] = r.first_name_groups[1]", ["l.first_name_groups[0] = r.first_name_groups[0]"]),
    ("coalesce(len(list_filter(k_l, lambda x: len(list_filter(k_r, lambda y: split_part(x, '=', 1) = "
     "split_part(y, '=', 1))) > 0)) > 0, false)", ["SIZE(FILTER(k_l, x -> SIZE(FILTER(k_r, y ->", "SPLIT_PART("]),
    ("hamming(a_l, a_r) > 2", ["SIZE(FILTER(SEQUENCE(1, LENGTH(a_l)), svoc_pos -> SUBSTRING(a_l, svoc_pos, 1) <> "
                               "SUBSTRING(a_r, svoc_pos, 1))) > 2"]),
    ("coalesce(len(list_filter(k_l, lambda x: hamming(x, 'a') > 2)) > 0, false)",
     ["SIZE(FILTER(k_l, x -> SIZE(FILTER(SEQUENCE(1, LENGTH(x)), svoc_pos -> SUBSTRING(x, svoc_pos, 1)"]),
    ("ELSE", ["ELSE"]),
])
def test_model_sql_is_put_into_sparks_dialect(duckdb_sql, spark_parts):
    out = to_spark(duckdb_sql)
    for part in spark_parts:
        assert part in out, out


def _duckdb_jaro_winkler(left: str, right: str) -> float:
    con = duckdb.connect()
    try:
        return con.execute("SELECT jaro_winkler_similarity(?, ?)", [left, right]).fetchall()[0][0]
    finally:
        con.close()


@pytest.mark.parametrize(("left", "right"), [("nowicki", "nowcki"), ("carrter", "carter"), ("martha", "marhta"),
                                             ("", ""), ("a", ""), ("jo", "joe"), ("Zoë", "Zoe")])
def test_sparks_jaro_winkler_is_duckdbs(left, right):
    """The Spark engine's Jaro-Winkler gives DuckDB's value (Splink's jar gives 'nowicki'/'nowcki' under 0.92)."""
    expected = _duckdb_jaro_winkler(left, right)
    assert jaro_winkler(pd.Series([left]), pd.Series([right]))[0] == pytest.approx(expected, abs=1e-12)


@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=20))
def test_sparks_jaro_winkler_is_duckdbs_for_any_strings(pairs):
    left, right = pd.Series([a for a, _ in pairs], dtype=object), pd.Series([b for _, b in pairs], dtype=object)
    got = jaro_winkler(left, right)
    for k, (a, b) in enumerate(pairs):
        expected = _duckdb_jaro_winkler(a, b)
        assert got[k] == pytest.approx(expected, abs=1e-12), (a, b)


def test_sparks_jaro_winkler_is_null_where_a_side_is_null():
    got = jaro_winkler(pd.Series(["ann", None, "bo"]), pd.Series([None, "ann", "bo"]))
    assert got.isna().tolist() == [True, True, False] and got[2] == 1.0


def test_every_level_and_rule_of_the_model_translates():
    from matching import settings as S
    from matching.spark.dialect import spark_settings

    plain = S.build_settings().get_settings("duckdb").as_dict()
    out = spark_settings(plain)
    levels = [lvl["sql_condition"] for c in out["comparisons"] for lvl in c["comparison_levels"]]
    assert len(levels) == sum(len(c["comparison_levels"]) for c in plain["comparisons"])
    assert not any(word in sql.upper() for sql in levels for word in ("LIST_", "::", "LAMBDA ", "HAMMING("))
    assert all(r["sql_dialect"] == "spark" for r in out["blocking_rules_to_generate_predictions"])
    # m/u and labels are untouched: a stored model scores the same on both engines
    assert [c["output_column_name"] for c in out["comparisons"]] == [c["output_column_name"] for c in plain["comparisons"]]


def test_a_function_spark_lacks_is_named_not_passed_through():
    with pytest.raises(UntranslatableSQL, match="list_cosine_similarity"):
        to_spark("list_cosine_similarity(a_l, a_r) > 0.5")


@pytest.mark.parametrize(("master", "key", "value"), [
    ("local[2]", "spark.master", "local[2]"),
    ("spark://head:7077", "spark.master", "spark://head:7077"),
    ("sc://workspace:443", "spark.remote", "sc://workspace:443"),
])
def test_spark_config_from_settings(master, key, value):
    from matching.spark.session import spark_config

    conf = spark_config(master, {"spark.executor.memory": "8g"})
    assert conf[key] == value
    assert conf["spark.executor.memory"] == "8g"
    assert conf["spark.sql.ansi.enabled"] == "false"
    assert ("spark.jars" in conf) == (key == "spark.master")  # Splink's jar, from the installed wheel
    if "spark.jars" in conf:
        assert Path(conf["spark.jars"]).is_file()


@pytest.mark.parametrize(("engine", "parquet_setting", "expected"), [
    ("duckdb", None, False), ("spark", None, True), ("duckdb", True, True), ("spark", False, False)])
def test_parquet_by_default_with_the_spark_engine(engine, parquet_setting, expected):
    assert writes_parquet(Settings(engine=engine, parquet=parquet_setting)) is expected


def _twins(extra: dict | None = None) -> pd.DataFrame:
    base = {"unique_id": ["a:1", "b:1"], "first_name_std": ["leo", "leon"], "dob": ["2015-03-01"] * 2,
            "dob_precision": ["day"] * 2, "postcode": ["AB1 2CD"] * 2, "address_std": ["1 high st"] * 2,
            "last_name_std": ["smith"] * 2}
    return pd.DataFrame({**base, **(extra or {})})


def test_twin_guard_reads_drop_wide_first_name_counts_when_given():
    """Per-component clustering (Spark) sees a few records; the counts the twin guard reads are the drop's."""
    local = TwinGuard(_twins())
    assert local.name_count == [1, 1]
    wide = TwinGuard(_twins({"first_name_count": [40, 12]}))
    assert wide.name_count == [40, 12]
    assert wide.established == [True, True]


# ------------------------------------------------------------------------------------------- pure: parquet
def test_parquet_tables_are_private_files_one_per_table(tmp_path):
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA linked; CREATE TABLE linked.record_citizen AS SELECT range AS id FROM range(5)")
    con.execute("CREATE SCHEMA audit; CREATE TABLE audit.runs (run_id VARCHAR)")
    con.close()
    out = tmp_path / "pq"
    counts = parquet.write_tables(db, out)
    assert counts == {"audit.runs": 0, "linked.record_citizen": 5}
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{out / 'linked' / 'record_citizen.parquet'}')"
                      ).fetchall() == [(5,)]
    for path in [out, out / "linked", out / "audit"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    for path in out.rglob("*.parquet"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_stale_parquet_folders_of_other_runs_are_removed(tmp_path):
    target = tmp_path / "svoc.duckdb"
    for run in ("old", "dead", "now"):
        parquet.run_dir(target, run).mkdir()
    os.symlink(parquet.run_dir(target, "old").name, parquet.parquet_link(target))
    removed = parquet.remove_stale(target, keep="now")
    assert sorted(p.name for p in removed) == [parquet.run_dir(target, "dead").name]
    assert parquet.run_dir(target, "old").exists() and parquet.run_dir(target, "now").exists()


# ------------------------------------------------------------------------------------------- Spark
@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java: .ci/system-deps.sh installs default-jre-headless")
    from matching.spark.session import build_session

    session = build_session("local[2]", {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"})
    yield session
    session.stop()


@pytest.fixture(scope="module")
def duckdb_run(tmp_path_factory) -> Path:
    """A small drop, linked once by the DuckDB engine: the registry and stored model both engines start from."""
    from svoc.synth import generate_drop

    tmp = tmp_path_factory.mktemp("spark_drop")
    generate_drop(children=CHILDREN, seed=SEED, out=tmp / "drop", xlsx_files=())
    warehouse = tmp / "warehouse" / "svoc.duckdb"
    run_cli("run", "--drop", str(tmp / "drop"), "--warehouse", str(warehouse), tmp=tmp)
    return warehouse


def _inputs(warehouse: Path) -> tuple[pd.DataFrame, dict]:
    from matching.artifact import load_latest_model
    from svoc.stages.match import build_record_features

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        drop_date = dt.date.fromisoformat(str(con.execute("SELECT max(drop_date) FROM audit.runs").fetchone()[0])[:10])
        features = build_record_features(con, drop_date)
        kwargs = {
            "previous_registry": con.execute("SELECT source || ':' || source_record_id AS record_key, citizen_id "
                                             "FROM linked.record_citizen").df(),
            "known_ids": con.execute("SELECT * FROM audit.citizen_ids").df(),
            "decisions": con.execute("SELECT * FROM audit.review_decisions").df(),
            "stored_model": load_latest_model(con),
            "run_id": "spark-test",
            "thresholds": {"link": None, "review": (None, None)},
        }
    finally:
        con.close()
    return features, kwargs


def _pairs(result) -> set[tuple[str, str]]:
    linked = result.match_evidence[result.match_evidence["status"] == "linked"]
    return set(zip(linked["unique_id_l"], linked["unique_id_r"], strict=True))


@pytest.mark.spark
def test_sparks_hamming_and_edit_helpers_are_duckdbs(spark):
    """The edit-distance helpers' guards (``hamming``, which Spark lacks, written with Spark's own functions) give
    DuckDB's answer on Spark, code points included."""
    from matching.sql_forms import edits_at_most, one_edit

    # letters outside the Basic Multilingual Plane left out: the jar's damerau_levenshtein counts Java's UTF-16
    # units, so "𝒜" is two letters there and one in DuckDB (the helpers' guards agree; that last resort does not)
    words = ["", "ab", "ba", "abc", "acb", "2012-01-18", "2012-10-18", "2021-01-81", "zoë", "zoe", "ébc", "béc"]
    rows = [(a, b) for a in words for b in words]  # (NULL: the jar's function answers, not NULL; a WHEN reads both as no)
    same_length = "CASE WHEN length(a) = length(b) AND length(a) > 0 THEN hamming(a, b) END"
    tests = [same_length, one_edit("a", "b"), edits_at_most("a", "b", 1), edits_at_most("a", "b", 2)]
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE ab (a VARCHAR, b VARCHAR)")
        con.executemany("INSERT INTO ab VALUES (?, ?)", rows)
        expected = con.execute(f"SELECT a, b, {', '.join(tests)} FROM ab").fetchall()
    finally:
        con.close()
    from splink import SparkAPI

    SparkAPI(spark_session=spark)  # registers the jar's damerau_levenshtein, as the engine's scoring does
    frame = spark.createDataFrame(rows, "a string, b string")
    got = [tuple(r) for r in frame.selectExpr("a", "b", *(to_spark(t) for t in tests)).collect()]
    assert sorted(got, key=repr) == sorted(expected, key=repr)


@pytest.mark.spark
def test_spark_and_duckdb_link_the_same_pairs_and_keep_every_citizen_id(spark, duckdb_run):
    from matching.linker import link_records
    from matching.spark.linker import link_records_spark

    features, kwargs = _inputs(duckdb_run)
    on_duckdb = link_records(features, **kwargs)
    on_spark = link_records_spark(features, spark=spark, **kwargs)

    # scoring: the same candidate pairs, probabilities and evidence
    keys = ["unique_id_l", "unique_id_r"]
    scored = on_duckdb.scored_pairs.merge(on_spark.scored_pairs, on=keys, how="outer", suffixes=("_d", "_s"),
                                          indicator=True)
    assert (scored["_merge"] == "both").all()
    assert (scored["match_probability_d"] - scored["match_probability_s"]).abs().max() < 1e-9
    assert (scored["evidence_d"] == scored["evidence_s"]).all()

    # linked pairs: >= 99.9% identical (measured: all)
    d, s = _pairs(on_duckdb), _pairs(on_spark)
    assert d and len(d & s) / len(d | s) >= 0.999

    # every citizen id identical, both starting from the DuckDB run's registry
    ids = on_duckdb.record_citizen.merge(on_spark.record_citizen, on=["source", "source_record_id"],
                                         suffixes=("_d", "_s"))
    assert len(ids) == len(features)
    assert (ids["citizen_id_d"] == ids["citizen_id_s"]).all()
    assert on_spark.review_queue[keys].equals(on_duckdb.review_queue[keys])


@pytest.mark.spark
def test_a_model_trained_on_spark_is_stored_in_duckdb_sql_and_links_like_duckdbs(spark, duckdb_run):
    from matching.artifact import content_hash
    from matching.linker import link_records
    from matching.spark.scoring import spark_features
    from matching.spark.session import prepare
    from matching.spark.training import train_model_spark

    features, kwargs = _inputs(duckdb_run)
    scratch = prepare(spark)
    try:
        model = train_model_spark(spark, spark_features(spark, features), features, seed=42)
    finally:
        shutil.rmtree(scratch or "/nonexistent", ignore_errors=True)
    assert content_hash(model.settings) == model.model_version
    levels = [lvl["sql_condition"] for c in model.settings["comparisons"] for lvl in c["comparison_levels"]]
    assert any("jaro_winkler_similarity" in sql for sql in levels)  # stored as DuckDB SQL: either engine reuses it
    assert model.training_summary["engine"] == "spark" and model.training_summary["em_blocking_rules"]
    # the Spark-trained model, scored on DuckDB, links (almost) the pairs the DuckDB-trained one does
    d = _pairs(link_records(features, **kwargs))
    s = _pairs(link_records(features, **{**kwargs, "stored_model": model}))
    assert len(d & s) / len(d | s) >= 0.99


@pytest.mark.spark
def test_the_prior_is_calibrated_on_the_sample_on_either_engine(spark, duckdb_run):
    """The calibration scores only its sample of a large drop (here: 60 of the records) on Spark too."""
    from matching.model import predict_pairs
    from matching.prior import calibrate_prior
    from matching.spark.linker import spark_steps

    features, kwargs = _inputs(duckdb_run)
    model = kwargs["stored_model"]
    on_duckdb = calibrate_prior(features, model, predict_pairs, max_records=60, threads=1)
    on_spark = calibrate_prior(features, model, spark_steps(spark, features).predict, max_records=60)
    assert on_duckdb.prior == pytest.approx(on_spark.prior, rel=1e-6)


@pytest.mark.spark
def test_svoc_run_with_the_spark_engine_publishes_duckdb_and_parquet(duckdb_run, tmp_path):
    warehouse = tmp_path / "warehouse" / "svoc.duckdb"
    shutil.copytree(duckdb_run.parent, warehouse.parent)
    before = dict(query(warehouse, "SELECT source || ':' || source_record_id, citizen_id FROM linked.record_citizen"))
    drop = duckdb_run.parent.parent / "drop"
    run_cli("run", "--drop", str(drop), "--warehouse", str(warehouse), tmp=tmp_path,
            SVOC_ENGINE="spark", SVOC_SPARK_MASTER="local[2]",
            SVOC_SPARK_CONF='{"spark.sql.shuffle.partitions": "2"}')
    after = dict(query(warehouse, "SELECT source || ':' || source_record_id, citizen_id FROM linked.record_citizen"))
    assert after == before  # same data, same model, same registry: every child keeps their id
    runs = query(warehouse, "SELECT count(*) FROM audit.runs WHERE status = 'success'")[0][0]
    assert runs == 2
    folder = warehouse.with_name("svoc_parquet")
    assert folder.is_symlink()
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet"))
    assert "linked/record_citizen.parquet" in files and "linked/single_view.parquet" in files
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{folder / 'linked' / 'record_citizen.parquet'}')").fetchall()
    assert n == [(len(after),)]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.rglob("*.parquet"))
    assert stat.S_IMODE(folder.resolve().stat().st_mode) == 0o700


# ------------------------------------------------------------------------------------------- Dagster wiring
def test_the_default_engine_never_imports_pyspark():
    code = ("import sys\nfrom pipelines.definitions import build_defs\nfrom svoc.settings import get_settings\n"
            "build_defs(get_settings()).get_repository_def()\nimport svoc.stages.match, svoc.stages.publish\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'dagster_pyspark')"
            " or m.startswith('matching.spark')))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SVOC_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


def test_the_spark_engine_gives_the_match_asset_dagster_pysparks_resource():
    pytest.importorskip("dagster_pyspark")
    from dagster_pyspark import PySparkResource

    from pipelines.defs.match.assets import record_citizen_asset
    from pipelines.resources import resources_from

    settings = Settings(engine="spark", spark_master="spark://head:7077", spark_conf={"spark.executor.memory": "8g"})
    resources = resources_from(settings)
    assert isinstance(resources["pyspark"], PySparkResource)
    conf = resources["pyspark"].spark_config
    assert conf["spark.master"] == "spark://head:7077" and conf["spark.executor.memory"] == "8g"
    assert resources["warehouse"].parquet is True
    assert "pyspark" in record_citizen_asset(["health"], "spark").required_resource_keys
    assert "pyspark" not in record_citizen_asset(["health"], "duckdb").required_resource_keys
    assert "pyspark" not in resources_from(Settings())
