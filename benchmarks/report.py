"""``benchmarks/RESULTS.md`` from the results dict (numbers only; no personal data ever reaches here)."""

from __future__ import annotations

STAGE_ORDER = ("extract", "quality", "match", "match_features_train", "match_predict", "match_cluster",
               "match_rest", "single_view", "marts", "publish")


def _fmt(v, digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def growth(scale: list[dict]) -> list[str]:
    """Lines describing time and memory growth between consecutive sizes (and 100k→1M)."""
    rows = sorted(scale, key=lambda r: r["identity_records"])
    out = []
    for a, b in zip(rows, rows[1:], strict=False):
        n = b["identity_records"] / a["identity_records"]
        t = b["wall_s"] / a["wall_s"] if a["wall_s"] else float("nan")
        m = b["peak_rss_mb"] / a["peak_rss_mb"] if a["peak_rss_mb"] else float("nan")
        out.append(f"* {a['identity_records']:,} → {b['identity_records']:,} records (×{n:.1f}): "
                   f"wall time ×{t:.1f}, peak RSS ×{m:.1f}")
    return out


ACCURACY_NOTE = (
    "Each linker ran in the same run on the same machine and read the same raw files. svoc: a drop folder with a "
    "`sources.yaml` (FEBRL4, pseudopeople, FEBRL3) or the presets (generated), `svoc run` on a fresh warehouse, the "
    "result read from `linked.record_citizen`; `seconds` is the whole CLI process (extract, quality checks, "
    "matching, single view, publishing). Splink: plain Splink 5 with its tutorial model (Jaro-Winkler names, "
    "DOB, exact postcode/town with term frequencies, identifiers when present; EM on two blocking rules; "
    "clusters at p >= 0.95; a one-source drop such as FEBRL3 is a dedupe). recordlinkage: blocking on DOB plus a sorted neighbourhood on the surname, "
    "string and exact comparisons, the ECM classifier. Metrics are pairwise over every truth record (a "
    "record a linker did not output counts as a singleton).")


def accuracy_section(rows: list[dict]) -> list[str]:
    """Markdown lines: accuracy through the public interface, per dataset and linker, then the review queue
    of svoc on the generated drop and the per-source-pair table of pseudopeople."""
    if not rows:
        return []
    lines = ["## Accuracy through the public interface (`benchmarks.external`)", "",
             "| dataset | linker | precision | recall | F1 | seconds | twin pairs merged |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['dataset']} | {r['linker']} | error: {str(r['error'])[:100]} | | | "
                         f"{_fmt(r.get('seconds'))} | |")
            continue
        lines.append(f"| {r['dataset']} | {r['linker']} | {r['precision']:.4f} | {r['recall']:.4f} | "
                     f"{r['f1']:.4f} | {_fmt(r.get('seconds'))} | {_fmt(r.get('twin_pairs_merged'))} |")
    lines += ["", ACCURACY_NOTE, ""]
    for r in rows:
        if r.get("review_queue_pairs") is not None:
            share = r.get("review_queue_true_share")
            children = r.get("children")
            per_child = f" ({r['review_queue_pairs'] / children:.2%} of {children:,} children)" if children else ""
            lines += [f"Review queue, {r['linker']} on {r['dataset']}: {r['review_queue_pairs']:,} pairs{per_child}, "
                      f"{'–' if share is None else f'{share:.1%}'} of them true matches.", ""]
    pairs = [r for r in rows if r.get("by_source_pair")]
    if pairs:
        lines += ["By source pair (pairwise, pairs with one record in each source, or both in one):", "",
                  "| dataset | linker | source pair | precision | recall | F1 | true pairs |",
                  "|---|---|---|---|---|---|---|"]
        for r in pairs:
            for pair, m in r["by_source_pair"].items():
                lines.append(f"| {r['dataset']} | {r['linker']} | {pair} | {m['precision']:.4f} | "
                             f"{m['recall']:.4f} | {m['f1']:.4f} | {_fmt(m.get('true_pairs'))} |")
        lines.append("")
    return lines


def write_markdown(out: dict, detail: dict) -> str:
    m = out["machine"]
    lines = ["# svoc benchmarks", "",
             f"Command: `{m.get('command', 'python -m benchmarks.run')}` (`make bench`)"
             + (f"; accuracy last measured by `{m['accuracy_command']}`" if m.get("accuracy_command") else "")
             + ". Fixed seeds: scale drops seed 2026, throughput drop seed 1, accuracy: FEBRL4 and FEBRL3 as "
             "shipped with recordlinkage, the pseudopeople sample population seed 0, the generated 20k drop seed 7.", "",
             "## Machine", "",
             f"* {m.get('cpus')} CPUs ({m.get('cpu_model')}), {m.get('memory_gb')} GB RAM, {m.get('os')}",
             f"* Python {m.get('python')}, DuckDB {m.get('duckdb')}, pandas {m.get('pandas')}, "
             f"Splink {m.get('splink')}",
             f"* Load average at start {m.get('load_average_at_start')}, at end {m.get('load_average_at_end')} "
             "(the machine is shared with other engineers' test runs: wall times are pessimistic)", "",
             "## Scale: `svoc run` end to end (fresh warehouse, model trained)", "",
             "| identity records | interactions | wall s | peak RSS MB | comparisons | "
             + " | ".join(STAGE_ORDER) + " |",
             "|" + "---|" * (5 + len(STAGE_ORDER))]
    for r in out["scale"]:
        st = r.get("stages") or {}
        lines.append(f"| {_fmt(r['identity_records'])} | {_fmt(r['interactions'])} | {_fmt(r['wall_s'])} | "
                     f"{_fmt(r['peak_rss_mb'])} | {_fmt(r['comparisons'])} | "
                     + " | ".join(_fmt(st.get(s)) for s in STAGE_ORDER) + " |")
    lines += ["", "Stage seconds: extract = all `staging__*` steps, quality = all `*_quality_checks`, match = "
              "`linked__record_citizen` (split from time-stamped logs into features+train (with the blocking "
              "count stored with a newly trained model), predict, cluster, rest = registry, evidence, writes), publish = `published_warehouse`.", "",
              "Growth:", "", *growth(out["scale"]), ""]
    failed = [r for r in detail.get("scale", []) if r.get("returncode") not in (0, None)]
    for r in failed:
        lines += [f"**{r.get('label')} run did not finish** (return code {r.get('returncode')}):", "", "```",
                  str(r.get("error_tail", ""))[-1500:], "```", ""]
    lines += engines_section(out)
    lines += accuracy_section(out.get("accuracy", []))
    lines += ["## Throughput against peers (one feature frame, generated drop)", "",
              "| dataset | linker | precision | recall | F1 | twin pairs merged | seconds | comparisons | "
              "comparisons/s | scoring s | scoring comparisons/s | records/s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in detail.get("throughput", []):
        if "error" in r:
            lines.append(f"| {r['dataset']} | {r['linker']} | error: {r['error'][:80]} |||||||| ")
            continue
        rps = r["records"] / r["seconds"] if r.get("seconds") and r.get("records") else None
        lines.append(f"| {r['dataset']} | {r['linker']} | {r['precision']:.4f} | {r['recall']:.4f} | "
                     f"{r['f1']:.4f} | {_fmt(r.get('twin_pairs_merged'))} | {_fmt(r.get('seconds'))} | "
                     f"{_fmt(r.get('comparisons'))} | {_fmt(r.get('comparisons_per_s'))} | {_fmt(r.get('scoring_seconds'), 2)} | "
                     f"{_fmt(r.get('scoring_comparisons_per_s'))} | {_fmt(rps)} |")
    lines += ["", "All linkers start from the same standardised feature frame; `seconds` is the linker's own time "
              "(training + scoring + clustering; svoc's includes its blocking analysis). Comparisons = candidate "
              "pairs each linker's blocking generates, so comparisons/s (comparisons ÷ seconds) rewards loose blocking "
              "and charges one-off model training to every comparison. Scoring comparisons/s divides by the scoring "
              "step alone (candidate generation + comparison vectors + scores: Splink's `predict`, recordlinkage's "
              "`index` + `compute`), the cost per comparison on a night that reuses its stored model; records/s is "
              "given alongside.", ""]
    return "\n".join(lines) + "\n"


def engines_section(out: dict) -> list[str]:
    """The incremental night against a full re-link, and the Spark engine against DuckDB (when measured)."""
    lines: list[str] = []
    inc = out.get("incremental")
    if inc:
        share = inc["incremental_s"] / inc["full_s"] if inc.get("full_s") and inc.get("incremental_s") else None
        lines += ["## Incremental night against a full re-link (same changed drop, same starting warehouse)", "",
                  "| identity records | changed share | full s | incremental s | incremental / full | "
                  "pair agreement | unchanged children keeping their id |", "|---|---|---|---|---|---|---|",
                  f"| {_fmt(inc.get('identity_records'))} | {inc.get('changed_share')} | {_fmt(inc.get('full_s'))} | "
                  f"{_fmt(inc.get('incremental_s'))} | {_fmt(share, 3)} | {inc.get('pair_agreement')} | "
                  f"{inc.get('unchanged_ids_kept')} |", "",
                  "`python -m benchmarks.incremental`: a first night on the drop, then the drop with the changed "
                  "share of identity records edited, added or removed, run both incrementally and with `--full` "
                  "from copies of the first night's warehouse.", ""]
    sp = out.get("spark")
    if sp:
        lines += ["## Spark engine against DuckDB (local[2], same drop, same starting registry and model)", "",
                  "| identity records | linked-pair agreement | citizen-id agreement | DuckDB s | Spark s |",
                  "|---|---|---|---|---|",
                  f"| {_fmt(sp.get('identity_records'))} | {sp.get('pair_agreement')} | {sp.get('id_agreement')} | "
                  f"{_fmt(sp.get('duckdb_s'))} | {_fmt(sp.get('spark_s'))} |", "",
                  "`python -m benchmarks.spark`: both engines run `svoc run --full` from a copy of one DuckDB first "
                  "night. The Spark figure on one small machine is not the point; agreement is.", ""]
    return lines


NOTES_MARKER = "<!-- notes: kept across runs -->"


def keep_notes(previous: str | None) -> str:
    """The hand-written section after ``NOTES_MARKER`` in the previous RESULTS.md (kept verbatim)."""
    if not previous or NOTES_MARKER not in previous:
        return ""
    return NOTES_MARKER + previous.split(NOTES_MARKER, 1)[1]
