"""The report's HTML pages: one style sheet, the profile banner every page carries, atomic writes."""

from __future__ import annotations

import html
from pathlib import Path

from bpmult.atomic import atomic_write_text


def profile_statement(profile: str, synthetic: bool, seeds: list[int], source: str = "synth") -> str:
    """The plain-words banner every page carries: which profile and data produced it. ``source``:
    the profile's ``data.source`` (``synth``: written by ``bpmult synth``; ``fetch`` with
    ``data.synthetic: true``: made-up files placed as real ones, e.g. the test fixtures)."""
    if synthetic:
        made = ("small SYNTHETIC datasets written by <code>bpmult synth</code> in the real file formats"
                if source == "synth" else
                "made-up (SYNTHETIC) files in the real upstream formats and sizes, fetched and placed like the real "
                "ones (the profile declares <code>data.synthetic: true</code>; e.g. the test fixtures of "
                "tests/fixtures/upstream.py)")
        return (f"<div class='banner synthetic'><b>Profile <code>{html.escape(profile)}</code> — synthetic data.</b> "
                f"Every number and figure on this page comes from {made}, tiny models and "
                f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))}), trained on this machine. They show that the "
                "pipeline runs end to end; they are <b>not</b> a reproduction of the paper's results. "
                "Run the paper profile (<code>dvc exp run -S profile=paper</code>) on real data for that.</div>")
    return (f"<div class='banner real'><b>Profile <code>{html.escape(profile)}</code> — real data.</b> Numbers come "
            f"from the real datasets listed under provenance, {len(seeds)} seed(s) "
            f"({', '.join(map(str, seeds))}).</div>")


# tables may be wider than the text column: they scroll inside .wide rather than wrap their cells
BODY_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1500px;margin:2em auto;padding:0 1em;color:#222}
p,ul,figcaption,.banner{max-width:1100px}
"""
# the classes tables, banners and verdicts use; also put into notebook pages (nbconvert's own CSS)
COMPONENT_STYLE = """
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f3f3f3;white-space:nowrap}
.wide{overflow-x:auto;max-width:100%}
table.results td{white-space:nowrap;text-align:right;line-height:1.25}
table.results td.model{text-align:left}
table.dense{font-size:12px}table.dense td,table.dense th{padding:2px 4px}
table.results th[colspan]{text-align:center}
td.model .note{white-space:nowrap}
tr.cited td{background:#fafafa;color:#666}
tr.prior td{background:#eef3fa}
td.within,.swatch.within{background:#e3f4e1}
td.beyond,.swatch.beyond{background:#fbe3e1}
td.unknown,.swatch.unknown{background:#f4f4f4}
.swatch{padding:1px 6px;border-radius:3px;margin-right:.4em;font-size:12px}
.paper{color:#666}.diff{color:#1a5e9a;font-size:12px}.note{font-size:11px;color:#888}
.legend{font-size:13px;color:#333}
.banner{padding:.8em 1em;border-radius:6px;margin:1em 0}
.banner.synthetic{background:#fff3cd;border:1px solid #e0c060}
.banner.real{background:#e3f2e3;border:1px solid #80b080}
.verdict-holds{background:#e3f4e1}.verdict-does-not-hold{background:#fbe3e1}
.verdict-inconclusive{background:#fff8e0}.verdict-no-run{background:#f4f4f4}
figure{margin:1.5em 0}figcaption{font-size:13px;color:#444}
img{max-width:100%}
"""
STYLE = BODY_STYLE + COMPONENT_STYLE


def notebook_header(banner: str) -> str:
    """The banner with the component styles, for a notebook cell's HTML output."""
    return f"<style>{COMPONENT_STYLE}</style>{banner}"


def page(title: str, banner: str, body: str) -> str:
    """A complete, self-contained HTML page."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{banner}{body}</body></html>")


def write_text_atomic(path: Path, text: str) -> None:
    """Write a page through a temporary name so a killed run leaves no half-written page."""
    atomic_write_text(path, text)
