"""``reports/claims.html`` and ``metrics/claims.json``: the claims check, as a page and as data."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from bpmult.report.claims import claims_json, evaluate_claims
from bpmult.report.pages import page, profile_statement, write_text_atomic
from bpmult.report.stats import WELCH_METHOD


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:+.{digits}f}"


def _paper_disagrees(result: dict[str, Any]) -> str:
    diff = result["paper"]["diff"]
    return "" if diff is None or diff > 0 else "<br><span class='note'>the paper's own table does not show it</span>"


def verdict_rows(results: list[dict[str, Any]]) -> str:
    """The verdict table's rows (shared by the claims page and the index summary)."""
    rows = []
    for r in results:
        ours = r["ours"]
        if ours is None:
            arms, diff, ci = "—", "—", "—"
        else:
            b, w = ours["better"], ours["worse"]
            arms = f"{b['mean']:.1f} ({b['n']}) vs {w['mean']:.1f} ({w['n']})"
            diff = _num(ours["diff"])
            ci = "n/a" if ours["ci_low"] is None else f"[{ours['ci_low']:+.1f},&nbsp;{ours['ci_high']:+.1f}]"
        cls = "verdict-" + r["verdict"].replace(" ", "-")
        rows.append(
            f"<tr><td>{html.escape(r['statement'])}<br><span class='note'>{html.escape(r['source'])} · "
            f"<code>{html.escape(r['better_run'])}</code> vs <code>{html.escape(r['worse_run'])}</code></span></td>"
            f"<td>{_num(r['paper']['diff'])}{_paper_disagrees(r)}</td><td>{arms}</td><td>{diff}</td><td>{ci}</td>"
            f"<td class='{cls}'><b>{html.escape(r['verdict'])}</b><br><span class='note'>"
            f"{html.escape(r['verdict_text'].removeprefix(r['verdict'] + ' at '))}</span></td></tr>")
    return "".join(rows)


VERDICT_HEAD = ("<tr><th>claim, as a testable statement "
                "<span class='note'>(where the paper makes it · our runs)</span>"
                "</th><th>paper Δ</th>"
                "<th>ours: mean (n) vs mean (n)</th><th>our Δ</th><th>95 % CI of Δ</th><th>verdict</th></tr>")


def claims_body(results: list[dict[str, Any]], synthetic: bool) -> str:
    counts = {v: sum(r["verdict"] == v for r in results) for v in ("holds", "does not hold", "inconclusive",
                                                                     "no run")}
    about = ("<p><b>These verdicts are about SYNTHETIC data and tiny models</b>: they test the pipeline, not the "
             "paper. On synthetic data the models have no reason to rank as in the paper.</p>" if synthetic else "")
    return (about
            + "<p>Each claim is a comparison of two of our runs on one test metric (higher is better). "
            f"Δ = first run − second run, in points. Method: {html.escape(WELCH_METHOD)}. Verdict: <b>holds</b> "
            "when the interval lies above 0, <b>does not hold</b> when it lies below 0, otherwise "
            "<b>inconclusive</b> at that many seeds (with 1 seed in an arm there is no interval). "
            "The paper's Δ is from its printed tables.</p>"
            + "<p>" + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" (of {len(results)} claims).</p>"
            + f"<div class='wide'><table class='claims'><thead>{VERDICT_HEAD}</thead>"
            f"<tbody>{verdict_rows(results)}</tbody></table></div>")


def write_claims(*, runs_dir: Path, html_path: Path, json_path: Path, profile: str, synthetic: bool,
                 seeds: list[int], source: str = "synth") -> list[dict[str, Any]]:
    """Evaluate every claim on ``runs_dir``; write the page and the JSON; return the results."""
    results = evaluate_claims(runs_dir)
    write_text_atomic(Path(json_path), json.dumps(claims_json(results, profile=profile, synthetic=synthetic),
                                                  indent=2, sort_keys=True))
    banner = profile_statement(profile, synthetic, seeds, source)
    write_text_atomic(Path(html_path), page("Do the paper's claims hold?", banner,
                                            claims_body(results, synthetic)))
    return results
