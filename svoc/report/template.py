"""The report's Jinja2 template (kept as a Python string so it ships with the package)."""

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;color:#222;background:#fff;
 line-height:1.45}
header{background:#1f3a5f;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px;font-size:24px}
header p{margin:0;opacity:.9}
main{padding:8px 32px 40px;max-width:1200px}
nav{margin:12px 0;font-size:14px}
nav a{margin-right:14px;color:#1f3a5f}
h2{border-bottom:2px solid #1f3a5f;padding-bottom:4px;margin-top:36px}
h3{margin-bottom:6px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef2f7}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid #ccd;border-radius:6px;padding:10px 16px;min-width:150px;background:#f8fafc}
.card .big{font-size:26px;font-weight:600}
.card .label{font-size:13px;color:#555}
.muted{color:#666}
.explain{background:#f4f7fb;border-left:4px solid #1f3a5f;padding:8px 12px;margin:8px 0;font-size:14px}
.ok{color:#1e7b4f;font-weight:600}.bad{color:#b03a2e;font-weight:600}.warn{color:#a66300;font-weight:600}
tr.agree td.state{color:#1e7b4f}tr.differ td.state{color:#b03a2e;font-weight:600}tr.missing td.state{color:#777}
tr.differ td{background:#fdf1f0}
details.pair{border:1px solid #ccd;border-radius:6px;margin:8px 0;padding:6px 12px}
details.pair summary{cursor:pointer;font-weight:600}
code{background:#f0f0f0;padding:0 3px;border-radius:3px}
footer{margin-top:40px;font-size:12px;color:#666}
@media print{details.pair{break-inside:avoid}}
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>svoc run report {{ run.run_id[:8] }}</title>
<style>{{ css }}</style></head>
<body>
<header><h1>svoc run report</h1>
<p>Run <b>{{ run.run_id[:8] }}</b> · drop <b>{{ run.drop or "unknown" }}</b> · dated {{ run.drop_date|d }}
 · <b>OFFICIAL-SENSITIVE</b>: contains identifiable information about children. Keep with the warehouse.</p>
</header>
<main>
<nav><a href="#run">The run</a><a href="#sources">Sources</a><a href="#linkage">Linkage</a><a href="#model">Model</a>
<a href="#changes">Changes</a><a href="#queue">Review queue</a><a href="#decisions">Decisions</a>
<a href="#errors">Errors and bias</a></nav>

<section id="run"><h2>1. The run</h2>
<div class="cards">
 <div class="card"><div class="big" id="n-records">{{ linkage.records|n }}</div><div class="label">records linked</div></div>
 <div class="card"><div class="big" id="n-citizens">{{ linkage.citizens|n }}</div><div class="label">children (citizen ids)</div></div>
 <div class="card"><div class="big" id="n-quarantined">{{ quarantined_total|n }}</div><div class="label">input lines quarantined</div></div>
 <div class="card"><div class="big" id="n-queue">{{ queue.open|n }}</div><div class="label">pairs waiting for review</div></div>
 <div class="card"><div class="big" id="n-decisions">{{ decisions.total|n }}</div><div class="label">reviewer decisions applied</div></div>
</div>
<table>
<tr><th>Run id</th><td><code>{{ run.run_id }}</code></td></tr>
<tr><th>Status</th><td>{{ run.status or "in progress" }}</td></tr>
<tr><th>Started / finished</th><td>{{ run.started_at|d }} / {{ run.finished_at|d }}</td></tr>
<tr><th>Drop folder and date</th><td>{{ run.drop or "" }} ({{ run.drop_date|d }})</td></tr>
<tr><th>Code version</th><td>{{ run.code_version or "unknown" }}</td></tr>
<tr><th>Matching model version</th><td><code>{{ run.model_version or "none" }}</code>
 {% if run.matching_stats.model_trained %}(trained in this run){% elif run.matching_stats %}(reused from an earlier run){% endif %}</td></tr>
{% if run.matching_stats.mode %}<tr><th>Matching</th><td>{% if run.matching_stats.mode == "incremental" %}incremental night: {{ run.matching_stats.changed_records|n }} new or changed and {{ run.matching_stats.removed_records|n }} removed records; {{ run.matching_stats.touched_records|n }} re-clustered, every other child unchanged{% else %}full re-link ({{ run.matching_stats.full_reason }}){% endif %}</td></tr>{% endif %}
<tr><th>Thresholds</th><td>{% for k, v in run.thresholds.items() %}{{ k }} = {{ v }}{% if not loop.last %}; {% endif %}{% endfor %}
 <div class="muted">Pairs scoring at least the <i>link</i> probability are joined automatically; pairs within the
 <i>review</i> range wait for a person to decide.</div></td></tr>
<tr><th>Previous successful run</th><td>{{ run.previous_run or "none (first run)" }}</td></tr>
</table>
{% if run.failed_runs %}<h3>Failed runs (never published)</h3><table><tr><th>run</th><th>started</th><th>message</th></tr>
{% for f in run.failed_runs %}<tr><td>{{ f.run_id[:8] }}</td><td>{{ f.started_at|d }}</td><td>{{ f.message }}</td></tr>{% endfor %}</table>{% endif %}
</section>

<section id="sources"><h2>2. The sources</h2>
<div class="explain">Every line of every file is accounted for: it is a header, a record taken in, or a line set aside
("quarantined") with the reason. Quarantined lines are not used until the source fixes them.</div>
<table id="per-source"><tr><th>source</th><th>records taken in</th><th>lines quarantined</th></tr>
{% for s in sources.per_source %}<tr><td>{{ s.source }}</td><td class="n">{{ s.records|n }}</td><td class="n">{{ s.quarantined|n }}</td></tr>{% endfor %}
</table>
<h3>Lines per file</h3>
<div class="explain">Rows in = records out + quarantined. Lines in also counts the header line and the extra lines
of records whose quoted fields span lines.</div>
<table id="files"><tr><th>source</th><th>file</th><th>lines in</th><th>rows in</th><th>records out</th><th>quarantined</th></tr>
{% for f in sources.files %}<tr><td>{{ f.source }}</td><td>{{ f.file }}</td><td class="n">{{ f.lines_in|n }}</td>
<td class="n">{{ (f.records_out + f.quarantined)|n }}</td><td class="n">{{ f.records_out|n }}</td><td class="n">{% if f.quarantined %}<span class="warn">{{ f.quarantined|n }}</span>{% else %}0{% endif %}</td></tr>
{% else %}<tr><td colspan="6" class="muted">No file accounts recorded for this run.</td></tr>{% endfor %}
</table>
{% if sources.notices %}<h3>Warnings about the input</h3>
<table id="notices"><tr><th>source</th><th>file</th><th>warning</th></tr>
{% for n in sources.notices %}<tr><td>{{ n.source }}</td><td>{{ n.file }}</td><td><span class="warn">{{ n.message }}</span></td></tr>{% endfor %}
</table>{% endif %}
<h3>Why lines were quarantined</h3>
<table id="quarantine"><tr><th>source</th><th>file</th><th>reason</th><th>lines</th><th>line numbers</th></tr>
{% for q in sources.quarantine %}<tr><td>{{ q.source }}</td><td>{{ q.file }}</td><td>{{ q.example if q.rows == 1 else q.reason_kind }}</td>
<td class="n">{{ q.rows|n }}</td><td>{{ q.lines|join(", ") }}{% if q.rows > 20 %} …{% endif %}</td></tr>
{% else %}<tr><td colspan="5" class="muted">No lines were quarantined.</td></tr>{% endfor %}
</table>
<h3>Data quality checks</h3>
<p>{{ sources.quality|length }} checks, <span class="{{ 'bad' if sources.quality_failed else 'ok' }}">{{ sources.quality_failed }} failed</span>.
A failed <i>blocking</i> check stops the run; a failed <i>warning</i> is reported here.</p>
{% for passed in [False, True] %}{% set rows = sources.quality|selectattr("passed", "equalto", passed)|list %}
{% if rows %}{% if passed %}<details><summary>{{ rows|length }} checks passed (show)</summary>{% endif %}
<table class="quality"><tr><th>source</th><th>check</th><th>severity</th><th>result</th><th>what was seen</th></tr>
{% for q in rows %}<tr><td>{{ q.source }}</td><td>{{ q.check|replace("_", " ") }}</td><td>{{ q.severity }}</td>
<td>{% if q.passed %}<span class="ok">passed</span>{% else %}<span class="bad">failed</span>{% endif %}</td><td>{{ q.observed }}</td></tr>{% endfor %}
</table>{% if passed %}</details>{% endif %}{% endif %}{% endfor %}
</section>

<section id="linkage"><h2>3. The linkage</h2>
<p><b>{{ linkage.records|n }}</b> records were linked into <b>{{ linkage.citizens|n }}</b> children.</p>
<table id="methods"><tr><th>how the record joined its child</th><th>records</th><th>meaning</th></tr>
{% for m in linkage.by_method %}<tr><td>{{ m.link_method }}</td><td class="n">{{ m.records|n }}</td><td>{{ method_help.get(m.link_method, "") }}</td></tr>{% endfor %}
</table>
{% if linkage.by_size %}<h3>Records per child</h3><table><tr><th>records</th><th>children</th></tr>
{% for s in linkage.by_size %}<tr><td class="n">{{ s.records_per_child }}</td><td class="n">{{ s.children|n }}</td></tr>{% endfor %}</table>{% endif %}
<h3>Strength of evidence for each scored pair</h3>
<div class="explain">Each bar counts record pairs with that total match weight. Linked pairs (green) sit on the right;
pairs waiting for review (orange) sit in the uncertain middle.</div>
{{ histogram|safe }}
</section>

{% if disclosure %}<section id="disclosure"><h2>Disclosure risk in the analytics file</h2>
<div class="explain">How many children could be singled out by the quasi-identifiers the analytics file publishes
(and, for comparison, by date-of-birth month, sex and postcode district before coarsening). The target is no child
unique, and none in a group smaller than the small-cell threshold.</div>
<table id="disclosure-table"><tr><th>measured</th><th>quasi-identifiers</th><th>children</th><th>groups</th>
<th>unique children</th><th>children in groups below {{ disclosure[0].threshold }}</th></tr>
{% for d in disclosure %}<tr><td>{{ d.measure }}</td><td>{{ d.quasi_identifiers }}</td><td class="n">{{ d.children|n }}</td>
<td class="n">{{ d.classes|n }}</td><td class="n">{{ d.unique_children|n }}</td><td class="n">{{ d.children_below_threshold|n }}</td></tr>{% endfor %}
</table></section>
{% endif %}
<section id="model"><h2>4. The matching model</h2>
<div class="explain">The model compares names, date of birth, sex, address and identifiers. For each kind of agreement it
has learned <i>m</i> (how often the same child's records agree this way) and <i>u</i> (how often two different
children's records agree this way by chance). The match weight is log<sub>2</sub>(m/u): positive weights push
towards "same child", negative towards "different children". The starting point for any pair is
{{ "%.2g"|format(model.prior or 0) }} (weight {{ "%+.1f"|format(prior_weight) }}).</div>
<p>Model <code>{{ model.model_version or "none" }}</code>{% if model.created_at %}, trained {{ model.created_at|d }}{% endif %}.</p>
{% for c in model.comparisons %}<h3>{{ c.name|replace("_", " ") }}</h3>
{{ model_charts[loop.index0]|safe }}
<table class="model"><tr><th>level</th><th>m</th><th>u</th><th>match weight</th></tr>
{% for l in c.levels %}<tr><td>{{ l.label }}</td><td class="n">{{ l.m|p }}</td><td class="n">{{ l.u|p }}</td>
<td class="n">{% if l.null_level %}<span class="muted">0 (no information)</span>{% else %}{{ l.weight|w }}{% endif %}</td></tr>{% endfor %}
</table>{% else %}<p class="muted">No stored model.</p>{% endfor %}
</section>

<section id="changes"><h2>5. What changed since the last run</h2>
<div class="explain"><i>created</i>: a new child id; <i>merged</i>: two ids found to be one child (one id retired);
<i>split</i>: records of one id found to be different children; <i>retired</i>: an id no longer used.</div>
<table id="events"><tr><th>change</th><th>reason</th><th>events</th><th>children</th></tr>
{% for e in changes.summary %}<tr><td>{{ e.event }}</td><td>{{ e.reason|replace("_", " ") }}</td><td class="n">{{ e.n|n }}</td><td class="n">{{ e.citizens|n }}</td></tr>
{% else %}<tr><td colspan="4" class="muted">No changes recorded for this run.</td></tr>{% endfor %}
</table>
{% if changes.events %}<h3>Merges, splits and retirements</h3><table><tr><th>change</th><th>child id</th><th>related id</th><th>record</th><th>reason</th></tr>
{% for e in changes.events %}<tr><td>{{ e.event }}</td><td><code>{{ e.citizen_id }}</code></td><td><code>{{ e.related_citizen_id or "" }}</code></td>
<td>{{ e.record_key or "" }}</td><td>{{ (e.reason or "")|replace("_", " ") }}</td></tr>{% endfor %}</table>{% endif %}
</section>

<section id="queue"><h2>6. The review queue</h2>
<p><b>{{ queue.open|n }}</b> pairs wait for a decision.{% if queue.open > queue.pairs|length %} The {{ queue.pairs|length }}
most likely matches are shown; {{ (queue.open - queue.pairs|length)|n }} more are listed by <code>svoc review list</code>.{% endif %}
Decide with <code>svoc review decide PAIR same|different --reviewer NAME --reason TEXT --purpose TEXT</code>.</p>
{% if queue.by_reason %}<table><tr><th>why the pair needs a person</th><th>pairs</th></tr>
{% for r in queue.by_reason %}<tr><td>{{ reason_text(r.reason) }}</td><td class="n">{{ r.pairs|n }}</td></tr>{% endfor %}</table>{% endif %}
{% for p in queue.pairs %}<details class="pair"{% if loop.index <= 3 %} open{% endif %}>
<summary>Pair {{ p.pair_id }} · {{ p.unique_id_l }} and {{ p.unique_id_r }} · probability {{ "%.3f"|format(p.match_probability or 0) }}
 · {{ reason_text(p.reason) }}</summary>
<table class="side"><tr><th>field</th><th>{{ p.unique_id_l }}</th><th>{{ p.unique_id_r }}</th><th></th></tr>
{% for f in p.fields %}<tr class="{{ f.state }}"><td>{{ f.field }}</td><td>{{ f.left }}</td><td>{{ f.right }}</td>
<td class="state">{{ {"agree": "agree", "differ": "differ", "missing": "—"}[f.state] }}</td></tr>{% endfor %}
</table>
{{ waterfalls[loop.index0]|safe }}
</details>{% endfor %}
</section>

<section id="decisions"><h2>7. Reviewer decisions</h2>
<p><b>{{ decisions.total|n }}</b> decisions were in force for this run. Decisions are never edited: a later decision on
the same pair replaces an earlier one.</p>
<table id="decision-rows"><tr><th>pair</th><th>records</th><th>decision</th><th>reviewer</th><th>reason</th><th>decided</th><th>applied?</th></tr>
{% for d in decisions.rows %}<tr><td>{{ d.pair_id or "" }}{% if d.new_this_run %} <span class="warn">new</span>{% endif %}</td>
<td>{{ d.unique_id_l }}<br>{{ d.unique_id_r }}</td><td><b>{{ d.decision }}</b></td><td>{{ d.reviewer }}</td><td>{{ d.reason }}</td>
<td>{{ d.decided_at|d }}</td><td>{% if d.honoured is none %}—{% elif d.honoured %}<span class="ok">yes</span>{% else %}<span class="bad">no (superseded or conflicting)</span>{% endif %}</td></tr>
{% else %}<tr><td colspan="7" class="muted">No decisions yet.</td></tr>{% endfor %}
</table>
{% if decisions.pending %}<h3>Recorded after this run started: applied by the next run</h3>
<table id="pending-decisions"><tr><th>pair</th><th>records</th><th>decision</th><th>reviewer</th><th>reason</th><th>decided</th></tr>
{% for d in decisions.pending %}<tr><td>{{ d.pair_id or "" }}</td><td>{{ d.unique_id_l }}<br>{{ d.unique_id_r }}</td>
<td><b>{{ d.decision }}</b></td><td>{{ d.reviewer }}</td><td>{{ d.reason }}</td><td>{{ d.decided_at|d }}</td></tr>{% endfor %}
</table>{% endif %}
</section>

<section id="errors"><h2>8. Errors and bias</h2>
{% if errors %}
<div class="explain">Measured against the ground-truth file of this synthetic drop. A record is in error if its child
was <i>split</i> over several ids, or its id <i>merged</i> it with another child. Compare the rates between groups:
a much higher rate for one group means the linkage serves that group less well.</div>
<div class="cards">
<div class="card"><div class="big">{{ "%.4f"|format(errors.metrics.precision) }}</div><div class="label">precision (pairs)</div></div>
<div class="card"><div class="big">{{ "%.4f"|format(errors.metrics.recall) }}</div><div class="label">recall (pairs)</div></div>
<div class="card"><div class="big">{{ errors.metrics.false_positive_pairs|n }}</div><div class="label">wrongly joined pairs</div></div>
<div class="card"><div class="big">{{ errors.metrics.false_negative_pairs|n }}</div><div class="label">missed pairs</div></div>
<div class="card"><div class="big">{{ errors.metrics.twin_pairs_merged }} / {{ errors.metrics.twin_pairs }}</div><div class="label">twin pairs merged</div></div>
</div>
{% for col, title in [("source", "By source"), ("age_band", "By age band"), ("ethnicity", "By ethnicity")] %}
<h3>{{ title }}</h3><table><tr><th>group</th><th>records</th><th>children</th><th>records in split children</th>
<th>records in merged ids</th><th>error rate</th></tr>
{% for g in errors.groups[col] %}<tr><td>{{ g.group }}</td><td class="n">{{ g.records|n }}</td><td class="n">{{ g.children|n }}</td>
<td class="n">{{ g.split_records|n }}</td><td class="n">{{ g.merged_records|n }}</td><td class="n">{{ "%.2f%%"|format(100 * g.error_rate) }}</td></tr>{% endfor %}
</table>{% endfor %}
<h3>Pair errors by source pair</h3><table><tr><th>sources</th><th>true pairs</th><th>wrongly joined</th><th>missed</th></tr>
{% for r in errors.by_source_pair %}<tr><td>{{ r.source_a }} – {{ r.source_b }}</td><td class="n">{{ r.true_pairs|n }}</td>
<td class="n">{{ r.false_positive_pairs|n }}</td><td class="n">{{ r.false_negative_pairs|n }}</td></tr>{% endfor %}</table>
{% elif decisions.by_source_pair %}
<div class="explain">No ground truth is available for this drop. Reviewer decisions by source pair show where the
automatic linkage needed correcting.</div>
<table><tr><th>sources</th><th>decided same</th><th>decided different</th></tr>
{% for r in decisions.by_source_pair %}<tr><td>{{ r.source_pair }}</td><td class="n">{{ r.same|n }}</td><td class="n">{{ r.different|n }}</td></tr>{% endfor %}
</table>
{% else %}<p class="muted">No ground truth and no reviewer decisions yet, so error rates cannot be measured.
Open review pairs by source pair:</p>
<table><tr><th>sources</th><th>pairs waiting</th></tr>{% for r in queue.by_source_pair %}<tr><td>{{ r.source_pair }}</td>
<td class="n">{{ r.pairs|n }}</td></tr>{% endfor %}</table>{% endif %}
</section>
<footer>Generated {{ generated_at }} UTC from {{ warehouse_name }}. This page is self-contained and works offline.</footer>
</main></body></html>
"""
