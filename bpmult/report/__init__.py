"""The report: the paper's tables and claims beside our runs, its figures, and the index page.

It reads only what the stages wrote (run folders or their summaries, prepared-data manifests,
``resources/paper_results.yaml``) and is called with explicit arguments (paths, profile name,
synthetic flag, seeds); it never imports the stage layer (``bpmult.pipeline``).

    names        the paper's names for models, metrics, datasets and GMU inputs
    runs         run names, run summaries, per-seed values
    tables       Tables 1–6: paper vs ours (data, HTML, flat JSON), ``write_tables``
    stats        Welch's t interval of a difference over seeds
    claims       the paper's claims as testable comparisons, ``evaluate_claims``
    claims_page  ``reports/claims.html`` and ``metrics/claims.json``, ``write_claims``
    analysis     gate activations and t-SNE from saved arrays
    plots        the matplotlib drawings
    figures      ``FIGURES``, the one table of figures, and how each is drawn
    gallery      ``FigureBook``: the figures notebook's draw-save-show
    prior        the label-prior baseline row
    diagrams     call-order tables of models the caller built
    fidelity     the paper vs the authors' code
    provenance   where the data came from
    environment  versions and device
    pages        the HTML page, its style and the profile banner
    index        ``reports/index.html``, ``write_index``
"""

from importlib import import_module

# the names the stage layer used from the former flat ``bpmult/report.py``, resolved on first use
# (PEP 562) so that importing the package (the CLI does) loads neither yaml tables nor sklearn
_FORMER_NAMES = {
    "page": "pages", "profile_statement": "pages", "write_text_atomic": "pages",
    "read_summary": "runs", "run_name": "runs", "summary_stat": "runs",
    "compare_table": "tables", "load_paper_results": "tables", "table_html": "tables", "tables_json": "tables",
}


def __getattr__(name: str):
    if name in _FORMER_NAMES:
        return getattr(import_module(f"bpmult.report.{_FORMER_NAMES[name]}"), name)
    raise AttributeError(f"module 'bpmult.report' has no attribute {name!r}")
