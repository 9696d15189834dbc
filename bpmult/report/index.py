"""``reports/index.html``: the headline comparison and the claims verdicts first, then links to every
page, every figure, the model diagrams, and the fidelity table, data provenance and environment.

The page carries a small script that, once the browser has loaded it, records whether every
image decoded and every table has rows (``#render-check``); the browser test reads that back.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from bpmult.report import names
from bpmult.report.claims_page import VERDICT_HEAD, verdict_rows
from bpmult.report.environment import environment_html
from bpmult.report.fidelity import fidelity_html
from bpmult.report.figures import FIGURES
from bpmult.report.pages import page, profile_statement, write_text_atomic
from bpmult.report.provenance import provenance_html, provenance_rows
from bpmult.report.runs import read_summary, summary_stat
from bpmult.report.tables import compare_table, load_paper_results, table_html

HEADLINE_TABLE = "table1_moviescope"

RENDER_CHECK_JS = """
<script>
window.addEventListener('load', function () {
  var folded = Array.from(document.querySelectorAll('details:not([open])'));
  folded.forEach(function (d) { d.open = true; });  // measure folded tables too
  var imgs = Array.from(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var tables = Array.from(document.querySelectorAll('table'));
  var empty = tables.filter(function (t) { return t.rows.length < 2 || t.offsetHeight === 0; });
  folded.forEach(function (d) { d.open = false; });
  var out = document.getElementById('render-check');
  out.setAttribute('data-images', imgs.length);
  out.setAttribute('data-broken-images', broken.map(function (i) { return i.getAttribute('src'); }).join(' '));
  out.setAttribute('data-tables', tables.length);
  out.setAttribute('data-empty-tables', empty.length);
  out.textContent = 'browser check: ' + (imgs.length - broken.length) + '/' + imgs.length +
    ' images loaded, ' + (tables.length - empty.length) + '/' + tables.length + ' tables rendered';
});
</script>
"""


def headline_html(runs: Path, prepared: Path | None) -> str:
    """Table 1's rows that we train (paper vs ours), coloured by agreement, without a click."""
    table = load_paper_results()[HEADLINE_TABLE]
    rows = [r for r in compare_table(table, runs, prepared) if r["source"] != "cited"]
    return f"<h3>{html.escape(table['title'])} (paper Table 1)</h3>" + table_html(table, rows)


def claims_summary_html(claims: list[dict[str, Any]] | None) -> str:
    if not claims:
        return "<p>No claims evaluated.</p>"
    counts = {v: sum(c["verdict"] == v for c in claims) for v in ("holds", "does not hold", "inconclusive",
                                                                   "no run")}
    return ("<p>" + ", ".join(f"<b>{n}</b> {v}" for v, n in counts.items())
            + f" of {len(claims)} claims; method and details on <a href='claims.html'>the claims page</a>.</p>"
            "<details open><summary>all verdicts</summary><div class='wide'><table class='claims'>"
            f"<thead>{VERDICT_HEAD}"
            f"</thead><tbody>{verdict_rows(claims)}</tbody></table></div></details>")


def _run_links(reports: Path, runs: Path) -> str:
    items = []
    for page_path in sorted((reports / "train").glob("*.html")):
        name = page_path.stem
        summary = read_summary(runs / name) or {}
        label = html.escape(name)
        if summary.get("variant"):
            label = (f"{html.escape(names.dataset_name(summary.get('dataset', '')))} · "
                     f"{html.escape(names.model_name(summary['variant']))} <small>(<code>{label}</code>)</small>")
        selection = summary.get("selection_metric")
        stat = ""
        if selection:
            mean, std, n = summary_stat(summary, selection)
            if mean is not None:
                spread = f" ± {std:.1f}" if n >= 2 else ""
                stat = f" — test {html.escape(names.metric_name(selection))} {mean:.1f}{spread} (n={n})"
        items.append(f'<li><a href="train/{html.escape(page_path.name)}">{label}</a>{stat}</li>')
    return "<ul>" + "".join(items) + "</ul>" if items else "<p>No training page found.</p>"


def _figure_gallery(reports: Path) -> str:
    """The figures in ``FIGURES`` order, each with its caption; figures not drawn are skipped."""
    index_path = reports / "figures" / "index.json"
    if not index_path.is_file():
        return "<p>No figure index found (run the figures stage).</p>"
    drawn = {entry["name"]: entry for entry in json.loads(index_path.read_text())}
    parts = []
    for spec in FIGURES:
        if spec.file in drawn:
            parts.append(f'<figure><img src="figures/{html.escape(drawn[spec.file]["file"])}" '
                         f'alt="{html.escape(spec.paper_figure)}: {html.escape(spec.file)}">'
                         f'<figcaption>{html.escape(spec.caption)}</figcaption></figure>')
    return "".join(parts) or "<p>No figure drawn.</p>"


def write_index(*, reports_dir: Path, prepared_dir: Path, runs_dir: Path, profile: str, synthetic: bool,
                seeds: list[int], diagrams_html: str, source: str = "synth", claims: list[dict[str, Any]] | None = None) -> Path:
    """Write ``reports/index.html`` from what the earlier stages produced.

    Args:
        diagrams_html: the model diagrams (:func:`bpmult.report.diagrams.diagrams_html` of the models
            the stage layer built).
        claims: the results of :func:`bpmult.report.claims.evaluate_claims` (None: not evaluated).
    """
    reports, prepared, runs = Path(reports_dir), Path(prepared_dir), Path(runs_dir)
    synthetic_note = (" <b>Synthetic data: the comparison shows the pipeline works, not the paper's numbers.</b>"
                      if synthetic else "")
    body = (
        "<h2>Headline: the paper's Table 1 beside our runs</h2>"
        + f"<p>Moviescope genre classification, test set.{synthetic_note}</p>"
        + headline_html(runs, prepared)
        + "<h2>Do the paper's claims hold?</h2>" + claims_summary_html(claims)
        + "<h2>Pages</h2><ul><li><a href='tables.html'>Tables 1–6: paper vs ours</a></li>"
        "<li><a href='claims.html'>Claims check: each claim with our difference, 95 % CI and verdict</a></li>"
        "<li><a href='figures.html'>Analysis figures (gate activations, t-SNE)</a></li></ul>"
        "<h2>Training runs (one page per dataset × variant, curves and metrics)</h2>"
        + _run_links(reports, runs)
        + "<h2>Figures</h2>" + _figure_gallery(reports)
        + "<h2>Model diagrams (generated from the code)</h2>" + diagrams_html
        + "<h2>Fidelity: the paper vs the authors' released code</h2>"
        "<p>Where the paper and the authors' code disagree, the paper is our default and the code's choice "
        "is a setting. The paper profile uses the code's per-dataset depth (their runs produced the numbers).</p>"
        + fidelity_html()
        + "<h2>Data provenance</h2>" + provenance_html(provenance_rows(prepared))
        + "<h2>Environment</h2>" + environment_html()
        + '<p id="render-check">browser check: not run (open this page in a browser)</p>'
        + RENDER_CHECK_JS
    )
    out = reports / "index.html"
    banner = profile_statement(profile, synthetic, seeds, source)
    write_text_atomic(out, page("BPMuLT reproduction report", banner, body))
    return out
