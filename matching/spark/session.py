"""The Spark session the engine runs in: its configuration (from settings) and the per-run SQL settings.

Nothing here downloads anything: the only jar is the similarity-function jar shipped inside the Splink wheel
(``splink.backends.spark.similarity_jar_location``), and PySpark brings its own Spark from PyPI.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Any

import pyarrow as pa

# Spark SQL settings the engine needs whatever the cluster's defaults are. ``ansi.enabled`` off: an array
# index past the end (``first_name_groups[0]`` of an empty list) is NULL as in DuckDB, not an error (Spark 4
# turns ANSI mode on by default).
# How Splink cuts the lineage of its intermediate tables (``prepare`` sets the checkpoint folder).
BREAK_LINEAGE = "parquet"
SCRATCH_PREFIX = "svoc-spark-"
RUN_SQL_CONF: dict[str, str] = {
    "spark.sql.ansi.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
# Defaults for a local master (one machine): few shuffle partitions, no UI, quiet logs.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "8",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.memory": "2g",
    # Spark SQL's own table folder: the engine keeps no tables there; not ./spark-warehouse in the working folder
    "spark.sql.warehouse.dir": os.path.join(tempfile.gettempdir(), f"svoc-spark-warehouse-{os.getuid()}"),
}


def similarity_jar() -> str:
    """Splink's Scala similarity functions (jaro_winkler, damerau_levenshtein, ...), from the installed wheel."""
    from splink.backends.spark import similarity_jar_location

    return str(similarity_jar_location())


def spark_config(master: str, conf: dict[str, str] | None = None) -> dict[str, str]:
    """The SparkSession configuration for ``master`` (``local[*]``, ``spark://host:7077``, ``yarn``, ``k8s://...``;
    an ``sc://`` URL is Spark Connect, Databricks Connect's protocol: ``spark.remote``). ``conf`` (the
    ``SVOC_SPARK_CONF`` JSON object) wins over every default here."""
    out: dict[str, str] = {}
    if master.startswith("sc://"):
        out["spark.remote"] = master
    else:
        out["spark.master"] = master
        out["spark.jars"] = similarity_jar()
        if master.startswith("local"):
            out.update(LOCAL_DEFAULTS)
    out.update(RUN_SQL_CONF)
    out.update({str(k): str(v) for k, v in (conf or {}).items()})
    return out


def build_session(master: str = "local[2]", conf: dict[str, str] | None = None, app_name: str = "svoc") -> Any:
    """A SparkSession from ``spark_config`` (for the CLI benchmarks and tests; Dagster runs use the
    ``dagster-pyspark`` resource, built from the same configuration)."""
    from pyspark.sql import SparkSession

    use_this_python()
    builder = SparkSession.builder.appName(app_name)
    for key, value in spark_config(master, conf).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def use_this_python() -> None:
    """PySpark starts its Python workers (``applyInPandas``) with ``PYSPARK_PYTHON``, read from the driver's
    environment when the session starts (no Spark setting replaces it): default it to this interpreter, whose
    environment has pandas and svoc. A value already set (a cluster's) is kept."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def prepare(spark: Any) -> str | None:
    """Per-run SQL settings on a session someone else built (a cluster's defaults may differ), and a checkpoint
    folder: Splink writes each intermediate table there as Parquet, so no query plan grows with the steps before
    it (with ``persist`` instead, the 100k drop ran out of heap printing plans). A cluster's own checkpoint folder
    (``spark.checkpoint.dir``, shared storage) is used when set; else a private temporary folder, returned so the
    run removes it."""
    for key, value in RUN_SQL_CONF.items():
        with contextlib.suppress(Exception):  # a locked conf on a managed cluster: the cluster's value stays
            spark.conf.set(key, value)
    spark.sparkContext.setLogLevel("ERROR")  # Spark's WARN lines (empty checkpoint paths...) are not the operator's
    current = spark.sparkContext._jsc.sc().getCheckpointDir()
    if not current.isEmpty() and SCRATCH_PREFIX not in str(current.get()):
        return None
    folder = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)  # 0700: the intermediate tables identify children
    spark.sparkContext.setCheckpointDir(folder)
    return folder


def frame(spark: Any, table: pa.Table, schema: str | None = None) -> Any:
    """A Spark DataFrame of a driver-side Arrow table, materialised on the executors (``localCheckpoint``): a
    DataFrame made from local data keeps every row inside its query plan, which Spark then copies whenever it
    plans a query over it (measured: out of heap at 100k records)."""
    sdf = spark.createDataFrame(table, schema=schema) if schema else spark.createDataFrame(table)
    return sdf.localCheckpoint(eager=True)
