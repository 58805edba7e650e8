"""Linkage quality against synthetic truth.

Pair counts come from contingency tables (sums of n-choose-2 over cluster / child / cell sizes), never
from enumerating record pairs, so this is cheap on a million records.

* pairwise precision / recall / F1;
* exact-cluster rate: share of true children whose records form exactly one predicted citizen holding
  nothing else;
* twin pairs merged: true twin pairs (distinct children sharing a ``twin_group``) sharing a citizen id;
* false-positive / false-negative pair counts by source pair and by age band (age at ``reference_date``).
  A false-positive pair joins two children; it is counted under each child's age band (so band totals
  can exceed the overall total), and under its (source_a, source_b) pair with source_a <= source_b.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

AGE_BANDS = ("unborn", "0-4", "5-10", "11-15", "16+", "unknown")
KEYS = ["source", "source_record_id"]


def _c2(n: pd.Series | np.ndarray) -> float:
    n = np.asarray(n, dtype=np.float64)
    return float((n * (n - 1) / 2).sum())


def age_band(dob: pd.Series, reference_date: dt.date) -> pd.Series:
    """Age band label per date of birth at ``reference_date``."""
    d = pd.to_datetime(dob, errors="coerce")
    ref = pd.Timestamp(reference_date)
    years = ref.year - d.dt.year - ((d.dt.month > ref.month) | ((d.dt.month == ref.month) & (d.dt.day > ref.day)))
    band = pd.Series("unknown", index=dob.index, dtype=object)
    band[d > ref] = "unborn"
    ok = d.notna() & (d <= ref)
    band[ok & (years <= 4)] = "0-4"
    band[ok & (years >= 5) & (years <= 10)] = "5-10"
    band[ok & (years >= 11) & (years <= 15)] = "11-15"
    band[ok & (years >= 16)] = "16+"
    return band


def _by_source_pair(df: pd.DataFrame) -> pd.DataFrame:
    """Predicted, true and true-positive pair counts per (source_a, source_b)."""

    def pair_counts(group_cols: list[str], name: str) -> pd.Series:
        cnt = df.groupby([*group_cols, "source"], sort=False).size().rename("n").reset_index()
        same = cnt.assign(source_a=cnt["source"], source_b=cnt["source"], v=cnt["n"] * (cnt["n"] - 1) / 2)
        cross = cnt.merge(cnt, on=group_cols, suffixes=("_a", "_b"))
        cross = cross[cross["source_a"] < cross["source_b"]]
        cross = cross.assign(v=cross["n_a"] * cross["n_b"])
        both = pd.concat([same[["source_a", "source_b", "v"]], cross[["source_a", "source_b", "v"]]])
        return both.groupby(["source_a", "source_b"])["v"].sum().rename(name)

    out = pd.concat([pair_counts(["citizen_id"], "predicted_pairs"), pair_counts(["child_id"], "true_pairs"),
                     pair_counts(["child_id", "citizen_id"], "true_positive_pairs")], axis=1).fillna(0)
    out["false_positive_pairs"] = out["predicted_pairs"] - out["true_positive_pairs"]
    out["false_negative_pairs"] = out["true_pairs"] - out["true_positive_pairs"]
    out = out[(out["false_positive_pairs"] > 0) | (out["false_negative_pairs"] > 0) | (out["true_pairs"] > 0)]
    return out.astype(np.int64).reset_index()


def _by_age_band(df: pd.DataFrame) -> pd.DataFrame:
    tp = df.groupby(["band", "child_id", "citizen_id"], sort=False).size().groupby(level="band").apply(_c2)
    true = df.groupby(["band", "child_id"], sort=False).size().groupby(level="band").apply(_c2)
    cit_band = df.groupby(["citizen_id", "band"], sort=False).size().rename("n_cb").reset_index()
    cit_total = df.groupby("citizen_id").size().rename("n_c")
    cit_band = cit_band.join(cit_total, on="citizen_id")
    # predicted pairs touching the band: pairs inside the band plus pairs with records of other bands
    touched = (cit_band["n_cb"] * (cit_band["n_cb"] - 1) / 2 + cit_band["n_cb"] * (cit_band["n_c"] - cit_band["n_cb"]))
    pred = touched.groupby(cit_band["band"]).sum()
    out = pd.DataFrame({"true_pairs": true, "true_positive_pairs": tp, "predicted_pairs": pred}).fillna(0)
    out["false_positive_pairs"] = out["predicted_pairs"] - out["true_positive_pairs"]
    out["false_negative_pairs"] = out["true_pairs"] - out["true_positive_pairs"]
    out["records"] = df.groupby("band").size()
    out["children"] = df.groupby("band")["child_id"].nunique()
    out = out.fillna(0).astype(np.int64).reindex([b for b in AGE_BANDS if b in out.index])
    return out.rename_axis("age_band").reset_index()


def evaluate(record_citizen: pd.DataFrame, truth: pd.DataFrame, reference_date: dt.date | None = None) -> dict:
    """Metrics of predicted citizens (``source, source_record_id, citizen_id``) against the truth
    (``source, source_record_id, child_id`` plus optional ``twin_group``, ``dob_true``).

    Records without truth are ignored; truth records without a prediction count as singletons.
    """
    reference_date = reference_date or dt.date.today()
    t = truth.copy()
    for k in KEYS:
        t[k] = t[k].astype(str)
    p = record_citizen[[*KEYS, "citizen_id"]].copy()
    for k in KEYS:
        p[k] = p[k].astype(str)
    df = t.merge(p.drop_duplicates(KEYS), on=KEYS, how="left")
    unpredicted = df["citizen_id"].isna()
    df["citizen_id"] = df["citizen_id"].astype(object)
    df.loc[unpredicted, "citizen_id"] = "__unlinked__:" + df.loc[unpredicted, "source"] + ":" + df.loc[
        unpredicted, "source_record_id"]
    df["child_id"] = df["child_id"].astype(str)

    pred_pairs = _c2(df.groupby("citizen_id").size())
    true_pairs = _c2(df.groupby("child_id").size())
    tp = _c2(df.groupby(["child_id", "citizen_id"]).size())
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    # exact clusters: child -> one citizen, and that citizen holds only this child's records
    child_cit = df.groupby("child_id")["citizen_id"].agg(["nunique", "first"])
    cit_children = df.groupby("citizen_id")["child_id"].nunique()
    exact = (child_cit["nunique"] == 1) & (child_cit["first"].map(cit_children) == 1)

    twin_pairs = twins_merged = 0
    if "twin_group" in df:
        tw = df[df["twin_group"].notna() & (df["twin_group"].astype(str).str.strip() != "")]
        tw = tw.assign(twin_group=tw["twin_group"].astype(str))
        twin_pairs = int(_c2(tw.groupby("twin_group")["child_id"].nunique()))
        cells = tw[["twin_group", "child_id", "citizen_id"]].drop_duplicates()
        shared = cells.merge(cells, on=["twin_group", "citizen_id"], suffixes=("_a", "_b"))
        shared = shared[shared["child_id_a"] < shared["child_id_b"]]
        twins_merged = int(shared[["twin_group", "child_id_a", "child_id_b"]].drop_duplicates().shape[0])

    if "dob_true" in df:
        df["band"] = age_band(df["dob_true"], reference_date)
    else:
        df["band"] = "unknown"
    return {
        "records": len(df),
        "records_without_prediction": int(unpredicted.sum()),
        "true_children": int(df["child_id"].nunique()),
        "predicted_citizens": int(df["citizen_id"].nunique()),
        "true_pairs": int(true_pairs),
        "predicted_pairs": int(pred_pairs),
        "true_positive_pairs": int(tp),
        "false_positive_pairs": int(pred_pairs - tp),
        "false_negative_pairs": int(true_pairs - tp),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "exact_cluster_rate": float(exact.mean()) if len(exact) else 1.0,
        "twin_pairs": twin_pairs,
        "twin_pairs_merged": twins_merged,
        "reference_date": reference_date.isoformat(),
        "by_source_pair": _by_source_pair(df),
        "by_age_band": _by_age_band(df),
    }


def format_report(metrics: dict) -> str:
    """Plain-text report for the CLI (no personal data: counts and rates only)."""
    lines = [
        "Linkage evaluation",
        f"  records {metrics['records']:,}  true children {metrics['true_children']:,}  "
        f"predicted citizens {metrics['predicted_citizens']:,}",
        f"  pairwise precision {metrics['precision']:.4f}  recall {metrics['recall']:.4f}  F1 {metrics['f1']:.4f}",
        f"  false-positive pairs {metrics['false_positive_pairs']:,}  "
        f"false-negative pairs {metrics['false_negative_pairs']:,}",
        f"  exact-cluster rate {metrics['exact_cluster_rate']:.4f}",
        f"  twin pairs merged {metrics['twin_pairs_merged']:,} of {metrics['twin_pairs']:,}",
        "",
    ]
    for title, key, label_cols in (("Errors by source pair", "by_source_pair", ["source_a", "source_b"]),
                                   (f"Errors by age band (at {metrics['reference_date']})", "by_age_band",
                                    ["age_band"])):
        table: pd.DataFrame = metrics[key]
        lines.append(title)
        if table.empty:
            lines.append("  (none)")
        else:
            show = table[[*label_cols, "true_pairs", "false_positive_pairs", "false_negative_pairs"]]
            lines.extend("  " + line for line in show.to_string(index=False).splitlines())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
