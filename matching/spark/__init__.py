"""The Spark engine (``SVOC_ENGINE=spark``): Splink's Spark backend for training and scoring, Spark connected
components and a per-component ``applyInPandas`` for clustering (docs/matching.md, "Engines").

Import ``matching.spark.linker.link_records_spark``; importing this package does not import PySpark.
"""
