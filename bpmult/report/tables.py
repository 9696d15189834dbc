"""The paper's Tables 1–6 beside our runs: the comparison as data, as HTML and as flat JSON.

The paper's numbers come from ``resources/paper_results.yaml`` (transcribed from the paper, cited
rows marked). Our numbers come only from run summaries written by training; a cell with no run
says so instead of showing a number. Each cell is coloured by whether the paper's value lies
within ±2σ of our mean (σ: our std over seeds).
"""

from __future__ import annotations

import copy
import functools
import html
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bpmult.report import names
from bpmult.report.pages import notebook_header, write_text_atomic
from bpmult.report.prior import prior_metrics
from bpmult.report.runs import read_summary, run_name, summary_stat

AVERAGE_ROW = "average"
AVERAGE_KEY = "avg"
TABLE_KEYS = ("table1_moviescope", "table2_moviescope_ablations", "table3_mmimdb",
              "table4_iemocap_aligned", "table5_iemocap_unaligned", "table6_mosei")


@functools.lru_cache(maxsize=1)
def _parsed_paper_results() -> dict[str, Any]:
    text = resources.files("bpmult").joinpath("resources/paper_results.yaml").read_text()
    return yaml.safe_load(text)


def load_paper_results() -> dict[str, Any]:
    """The paper's Tables 1–6 as transcribed (``bpmult/resources/paper_results.yaml``); a fresh copy."""
    return copy.deepcopy(_parsed_paper_results())


def as_pair(value: Any) -> tuple[float | None, float | None]:
    """A paper cell as (mean, std): ``[m, s]``, ``m`` or ``null``."""
    if value is None:
        return None, None
    if isinstance(value, (list, tuple)):
        return float(value[0]), (None if value[1] is None else float(value[1]))
    return float(value), None


@dataclass(frozen=True)
class Cell:
    """One comparison cell: the paper's value and ours (mean ± std over n seeds)."""

    paper: float | None
    paper_std: float | None
    ours: float | None
    ours_std: float | None
    n: int

    @property
    def diff(self) -> float | None:
        if self.paper is None or self.ours is None:
            return None
        return self.ours - self.paper

    @property
    def agreement(self) -> str:
        """``within`` (|Δ| ≤ 2σ ours), ``beyond``, or ``unknown`` (no paper value, no run, < 2 seeds)."""
        if self.diff is None or self.n < 2 or self.ours_std is None:
            return "unknown"
        return "within" if abs(self.diff) <= 2.0 * self.ours_std else "beyond"

    def to_dict(self) -> dict[str, Any]:
        return {"paper": self.paper, "paper_std": self.paper_std, "ours": self.ours,
                "ours_std": self.ours_std, "diff": self.diff, "n_seeds": self.n, "agreement": self.agreement}


def table_columns(table: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The columns of a paper table as (group, metric, summary key).

    Flat tables (1–3) have one column per metric; emotion tables (4–6) a column per emotion and
    metric, with the paper's ``average`` mapped to our ``avg_<metric>`` key.
    """
    if "emotions" not in table:
        return [("", m, m) for m in table["metrics"]]
    cols = []
    for emotion in list(table["emotions"]) + [AVERAGE_ROW]:
        prefix = AVERAGE_KEY if emotion == AVERAGE_ROW else emotion
        cols += [(emotion, m, f"{prefix}_{m}") for m in table["metrics"]]
    return cols


def paper_value(row: dict[str, Any], group: str, metric: str) -> Any:
    return row.get(metric) if not group else (row.get(group) or {}).get(metric)


def compare_table(table: dict[str, Any], runs_dir: Path, prepared_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every row of a paper table with our matching cells.

    With ``prepared_dir`` (holding ``<dataset>/``), a last row gives the label prior's scores on
    the same test set (:mod:`bpmult.report.prior`), computed here, never from the paper.

    Returns:
        One dict per row: ``model``, ``modalities``, ``source`` ("ours", "cited" or "prior"),
        ``run`` (our run name or None) and ``cells`` {column key: Cell}.
    """
    rows = []
    for row in table["rows"]:
        cited = row.get("source") == "cited"
        name = None if cited else run_name(table["dataset"], row["model"], row.get("modalities"))
        summary = None if cited else read_summary(Path(runs_dir) / name)
        cells = {}
        for group, metric, key in table_columns(table):
            paper, paper_std = as_pair(paper_value(row, group, metric))
            ours, ours_std, n = summary_stat(summary, key)
            cells[key] = Cell(paper, paper_std, ours, ours_std, n)
        rows.append({"model": row["model"], "modalities": row.get("modalities"), "source": row["source"],
                     "run": name, "cells": cells, "definition": (summary or {}).get("definition")})
    data_dir = None if prepared_dir is None else Path(prepared_dir) / table["dataset"]
    if data_dir is not None and (data_dir / "manifest.json").is_file():
        prior = prior_metrics(data_dir)
        cells = {key: Cell(None, None, _finite(prior.get(key)), None, 0) for _, _, key in table_columns(table)}
        rows.append({"model": "label prior", "modalities": None, "source": "prior", "run": None, "cells": cells})
    return rows


def _finite(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _fmt(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.1f}" if std is None else f"{mean:.1f} <small>±{std:.1f}</small>"


LEGEND = ("<p class='legend'>Each cell: <b>ours</b> (mean <small>±std</small> over the row's n seeds), "
          "then <span class='paper'>the paper's value</span>, then Δ = ours − paper in points. "
          "Colour: <span class='swatch within'>paper within our ±2σ</span> "
          "<span class='swatch beyond'>paper beyond our ±2σ</span> "
          "<span class='swatch unknown'>no comparison (no run, no paper value, or fewer than 2 seeds)</span></p>")


def _header(cols: list[tuple[str, str, str]]) -> str:
    head_groups = ""
    if any(g for g, _, _ in cols):
        groups: list[tuple[str, int]] = []
        for g, _, _ in cols:
            if groups and groups[-1][0] == g:
                groups[-1] = (g, groups[-1][1] + 1)
            else:
                groups.append((g, 1))
        head_groups = "<tr><th></th>" + "".join(
            f'<th colspan="{n}">{html.escape(g.capitalize())}</th>' for g, n in groups) + "</tr>"
    head = "<tr><th>model</th>" + "".join(
        f"<th title='{html.escape(m)}'>{html.escape(names.metric_name(m))}</th>" for _, m, _ in cols) + "</tr>"
    return head_groups + head


def _label(row: dict[str, Any]) -> str:
    label = html.escape(names.model_name(row["model"]))
    if row["modalities"]:
        label += f" <small>({html.escape(row['modalities'])})</small>"
    if row["source"] == "cited":
        return f"{label}<br><span class='note'>cited, not rerun</span>"
    if row["source"] == "prior":
        return f"{label}<br><span class='note'>train label frequencies as predictions</span>"
    n = max((c.n for c in row["cells"].values()), default=0)
    seeds = f" · n={n}" if n else " · no run"
    definition = f" · {html.escape(row['definition'])} definition" if row.get("definition") else ""
    return f"{label}<br><span class='note'><code>{html.escape(row['run'])}</code>{seeds}{definition}</span>"


def _cell(row: dict[str, Any], c: Cell) -> str:
    if row["source"] == "cited":
        return f'<td><span class="paper">{_fmt(c.paper, c.paper_std)}</span></td>'
    if row["source"] == "prior":
        return f'<td><b>{_fmt(c.ours, None)}</b></td>'
    # one seed has no spread: no "± 0.0"
    ours = "no run" if c.ours is None else _fmt(c.ours, c.ours_std if c.n >= 2 else None)
    diff = "" if c.diff is None else f'<br><span class="diff">Δ {c.diff:+.1f}</span>'
    return (f'<td class="{c.agreement}"><b>{ours}</b><br><span class="paper">{_fmt(c.paper, c.paper_std)}</span>'
            f"{diff}</td>")


DENSE_COLUMNS = 10


def table_html(table: dict[str, Any], compared: list[dict[str, Any]], legend: bool = True) -> str:
    """An HTML table: per cell ours (mean ± std), the paper's value and the difference, coloured."""
    cols = table_columns(table)
    body = "".join(
        f'<tr class="{row["source"]}"><td class="model">{_label(row)}</td>'
        + "".join(_cell(row, row["cells"][key]) for _, _, key in cols) + "</tr>"
        for row in compared)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in table.get("notes", []))
    notes_html = f'<p><b>Notes on the printed table:</b></p><ul class="notes">{notes}</ul>' if notes else ""
    # Table 6's 14 metric columns: a smaller font and padding so that it fits 1400 px without scrolling
    cls = "results dense" if len(cols) > DENSE_COLUMNS else "results"
    return ((LEGEND if legend else "")
            + f'<div class="wide"><table class="{cls}"><thead>{_header(cols)}</thead><tbody>{body}</tbody>'
            f"</table></div>{notes_html}")


def tables_json(runs_dir: Path, prepared_dir: Path | None = None) -> dict[str, Any]:
    """All comparisons as plain data (for ``dvc metrics`` and tests)."""
    out = {}
    for key, table in load_paper_results().items():
        out[key] = [{**{k: v for k, v in row.items() if k != "cells"},
                     "cells": {k: c.to_dict() for k, c in row["cells"].items()}}
                    for row in compare_table(table, runs_dir, prepared_dir)]
    return out


def flat_tables(data: dict[str, Any]) -> dict[str, Any]:
    """Our measured cells only, keyed table/run/metric (what ``dvc metrics show`` lists)."""
    flat: dict[str, Any] = {}
    for table, rows in data.items():
        for row in rows:
            if row["source"] not in ("ours", "prior"):
                continue
            name = row["run"] or "label_prior"
            for key, cell in row["cells"].items():
                if cell["ours"] is not None:
                    flat.setdefault(table, {}).setdefault(name, {})[key] = round(cell["ours"], 3)
    return flat


@dataclass
class TablesResult:
    """What the tables notebook shows: one HTML table per paper table, under the profile banner."""

    runs_dir: Path
    prepared_dir: Path
    banner_html: str

    def compared(self, key: str) -> list[dict[str, Any]]:
        """The rows of one paper table with our cells (the data behind :meth:`html`)."""
        return compare_table(load_paper_results()[key], self.runs_dir, self.prepared_dir)

    def frame(self, key: str):
        """Our rows of one table as a pandas frame: our mean, the paper's value and Δ per (row, column)."""
        import pandas as pd

        rows = []
        for row in self.compared(key):
            if row["source"] == "cited":
                continue
            model = names.model_name(row["model"]) + (f" ({row['modalities']})" if row["modalities"] else "")
            for col, cell in row["cells"].items():
                rows.append({"model": model, "run": row["run"], "column": names.metric_name(col), "key": col,
                             "ours": cell.ours, "ours std": cell.ours_std, "n": cell.n, "paper": cell.paper,
                             "Δ": cell.diff, "within ±2σ": cell.agreement})
        return pd.DataFrame(rows)

    def html(self, key: str) -> str:
        table = load_paper_results()[key]
        return f"<h3>{html.escape(table['title'])}</h3>" + table_html(table, self.compared(key))


def write_tables(*, runs_dir: Path, prepared_dir: Path, tables_json_path: Path, banner_html: str) -> TablesResult:
    """Compare every paper table with our runs; write our cells as JSON (``dvc metrics``)."""
    data = tables_json(Path(runs_dir), Path(prepared_dir))
    write_text_atomic(Path(tables_json_path), json.dumps(flat_tables(data), indent=2, sort_keys=True))
    return TablesResult(Path(runs_dir), Path(prepared_dir), notebook_header(banner_html))
