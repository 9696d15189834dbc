"""``reports/index.html``: links every page, shows every figure, and closes with the fidelity
table, the data provenance and the environment.

The page carries a small script that, once the browser has loaded it, records whether every
image decoded and every table has rows (``#render-check``); the browser test reads that back.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from bpmult import report

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


def _run_links(reports: Path, runs: Path) -> str:
    items = []
    for page in sorted((reports / "train").glob("*.html")):
        name = page.stem
        summary = report.read_summary(runs / name) or {}
        selection = summary.get("selection_metric")
        stat = ""
        if selection:
            mean, std, n = report.summary_stat(summary, selection)
            if mean is not None:
                stat = f" — test {html.escape(selection)} {mean:.1f} ± {std:.1f} (n={n})"
        items.append(f'<li><a href="train/{html.escape(page.name)}">{html.escape(name)}</a>{stat}</li>')
    return "<ul>" + "".join(items) + "</ul>" if items else "<p>No training page found.</p>"


def _figure_gallery(reports: Path) -> str:
    index_path = reports / "figures" / "index.json"
    if not index_path.is_file():
        return "<p>No figure index found (run the figures stage).</p>"
    parts = []
    for entry in json.loads(index_path.read_text()):
        parts.append(f'<figure><img src="figures/{html.escape(entry["file"])}" alt="{html.escape(entry["name"])}">'
                     f'<figcaption>{html.escape(entry["caption"])}</figcaption></figure>')
    return "".join(parts)


def _environment_html() -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                   for k, v in report.environment().items())
    return f"<table><tbody><tr><th>item</th><th>value</th></tr>{rows}</tbody></table>"


def _diagrams_html(prepared: Path, params: dict[str, Any]) -> str:
    from bpmult import diagrams

    return diagrams.diagrams_html(prepared, params)


def write_index(reports: Path, prepared: Path, runs: Path, params_path: str = "params.yaml") -> Path:
    """Write ``reports/index.html`` from what the earlier stages produced."""
    from bpmult import pipeline

    params = pipeline.load_params(params_path)
    banner = pipeline.banner(params)
    body = (
        "<h2>Pages</h2><ul><li><a href='tables.html'>Tables 1–6: paper vs ours</a></li>"
        "<li><a href='figures.html'>Analysis figures (gate activations, t-SNE)</a></li></ul>"
        "<h2>Training runs (one page per dataset × variant, curves and metrics)</h2>"
        + _run_links(reports, runs)
        + "<h2>Figures</h2>" + _figure_gallery(reports)
        + "<h2>Model diagrams (generated from the code)</h2>" + _diagrams_html(prepared, params)
        + "<h2>Fidelity: the paper vs the authors' released code</h2>"
        "<p>Where the paper and the authors' code disagree, the paper is our default and the code's choice "
        "is a setting. The paper profile uses the code's per-dataset depth (their runs produced the numbers).</p>"
        + report.fidelity_html()
        + "<h2>Data provenance</h2>" + report.provenance_html(report.provenance_rows(prepared))
        + "<h2>Environment</h2>" + _environment_html()
        + '<p id="render-check">browser check: not run (open this page in a browser)</p>'
        + RENDER_CHECK_JS
    )
    out = Path(reports) / "index.html"
    report.write_text_atomic(out, report.page("BPMuLT reproduction report", banner, body))
    return out
