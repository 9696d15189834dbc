"""Do the paper's claims hold on our runs? Each claim as a testable comparison of two runs.

A claim says run A scores higher than run B on one test metric (every metric here is "higher is
better"). Ours: the difference of the seed means with a 95 % Welch's t interval over seeds
(:mod:`bpmult.report.stats`). Verdict: ``holds`` when the interval lies above 0, ``does not hold``
when it lies below 0, otherwise ``inconclusive`` at that many seeds; with fewer than 2 seeds in an
arm there is no interval and the verdict is ``inconclusive``; a missing run gives ``no run``.

The claims are the paper's own words (abstract, §4.5, §6, §6.1, §7.5–7.7), on the rows of its
Tables 1–6 (``resources/paper_results.yaml``); the paper's difference is shown beside ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpmult.report import names
from bpmult.report.runs import read_summary, run_name, seed_values, summary_stat
from bpmult.report.stats import WELCH_METHOD, Arm, welch_interval
from bpmult.report.tables import as_pair, paper_value, load_paper_results

VERDICTS = ("holds", "does not hold", "inconclusive", "no run")


@dataclass(frozen=True)
class Claim:
    """A claim of the paper: ``better`` scores higher than ``worse`` on ``metric`` (test split).

    ``better``/``worse`` are (variant, modality setting or None); ``table`` is the paper table that
    prints both rows; ``group`` the emotion column group for Tables 4–6 ("average").
    """

    id: str
    statement: str
    source: str
    table: str
    metric: str
    better: tuple[str, str | None]
    worse: tuple[str, str | None]
    group: str = ""

    @property
    def key(self) -> str:
        """The summary key of the metric (``avg_wacc`` for the average W-Acc of Table 6)."""
        return f"avg_{self.metric}" if self.group == "average" else self.metric


def _beats(cid: str, table: str, metric: str, better: str, worse: str, source: str, *,
           mod_b: str | None = None, mod_w: str | None = None, group: str = "", what: str = "") -> Claim:
    dataset = load_paper_results()[table]["dataset"]
    metric_label = names.metric_name(f"avg_{metric}" if group == "average" else metric)
    label = lambda v, m: names.model_name(v) + (f" ({m})" if m else "")  # noqa: E731
    statement = what or (f"{label(better, mod_b)} beats {label(worse, mod_w)} on "
                         f"{names.dataset_name(dataset)} {metric_label}")
    return Claim(cid, statement, source, table, metric, (better, mod_b), (worse, mod_w), group)


def paper_claims() -> list[Claim]:
    """The paper's comparative claims, in reading order."""
    t1, t2, t3 = "table1_moviescope", "table2_moviescope_ablations", "table3_mmimdb"
    claims = [
        _beats("moviescope_bpmult_vs_mult_gmu", t1, "ap_micro", "bpmult", "mult_gmu",
               "abstract; §6, Table 1", mod_b="TVAP", mod_w="TVAP"),
        _beats("moviescope_bpmult_vs_mult_gmu_tvapm", t1, "ap_micro", "bpmult", "mult_gmu",
               "§6: \"even when the modality setting of the MuLT-GMU is TVAPM\"", mod_b="TVAP", mod_w="TVAPM"),
        _beats("moviescope_bpmult_vs_mult", t1, "ap_micro", "bpmult", "mult", "§6, Table 1",
               mod_b="TVAP", mod_w="TVAP"),
        _beats("mmimdb_bpmult_vs_mult_gmu", t3, "f1_micro", "bpmult", "mult_gmu", "abstract; §7.5, Table 3"),
        _beats("mmimdb_bpmult_vs_gmu", t3, "f1_micro", "bpmult", "gmu", "§7.5, Table 3"),
        _beats("mosei_bpmult_vs_mult", "table6_mosei", "wacc", "bpmult", "mult", "abstract; §7.7, Table 6",
               group="average"),
        _beats("iemocap_aligned_no_parallel_vs_mult_auc", "table4_iemocap_aligned", "auc", "bpmult_no_parallel",
               "mult", "§7.6: \"We achieved a better AUC metric\", Table 4", group="average"),
    ]
    # "the parallel branch helps" (§4.5): BPMuLT vs BPMuLT-no-parallel on every dataset
    for table, metric, group, mods in [(t1, "ap_micro", "", "TVAP"), (t3, "f1_micro", "", None),
                                       ("table4_iemocap_aligned", "acc", "average", None),
                                       ("table5_iemocap_unaligned", "acc", "average", None),
                                       ("table6_mosei", "wacc", "average", None)]:
        dataset = load_paper_results()[table]["dataset"]
        claims.append(_beats(f"{dataset}_parallel_branch_helps", table, metric, "bpmult", "bpmult_no_parallel",
                             f"§4.5 (the parallel part helps not to over-fit); Table {table[5]}",
                             mod_b=mods, mod_w=mods, group=group,
                             what=f"the parallel branch helps: BPMuLT beats BPMuLT-no-parallel on "
                                  f"{names.dataset_name(dataset)} "
                                  f"{names.metric_name(('avg_' if group else '') + metric)}"))
    # every Table 2 ablation "hurts" (Table 2's caption: "all outperformed ablation experiments")
    for row in load_paper_results()[t2]["rows"]:
        if row["model"] in ("bpmult", "bpmult_no_parallel"):
            continue
        claims.append(_beats(f"moviescope_ablation_{row['model']}_hurts", t2, "ap_micro", "bpmult", row["model"],
                             "§6.1, Table 2 (\"all outperformed ablation experiments\")",
                             what=f"the ablation hurts: BPMuLT beats {names.model_name(row['model'])} "
                                  f"on Moviescope AP-micro"))
    return claims


def _paper_number(claim: Claim, side: tuple[str, str | None]) -> float | None:
    table = load_paper_results()[claim.table]
    for row in table["rows"]:
        if row["model"] == side[0] and (side[1] is None or row.get("modalities") in (None, side[1])):
            return as_pair(paper_value(row, claim.group, claim.metric))[0]
    return None


def _arm(runs_dir: Path, dataset: str, side: tuple[str, str | None], key: str) -> Arm | None:
    """Our seeds of one side: per-seed metrics when the run folder has them, else its summary."""
    run = Path(runs_dir) / run_name(dataset, side[0], side[1])
    values = seed_values(run, key)
    if values:
        return Arm.of(values)
    mean, std, n = summary_stat(read_summary(run), key)
    return None if mean is None or n == 0 else Arm(mean, std or 0.0, n)


def _verdict(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "inconclusive"
    if low > 0:
        return "holds"
    if high < 0:
        return "does not hold"
    return "inconclusive"


def evaluate_claim(claim: Claim, runs_dir: Path) -> dict[str, Any]:
    """One claim against the runs under ``runs_dir``; a plain dict (the page and JSON show it)."""
    dataset = load_paper_results()[claim.table]["dataset"]
    better, worse = (_arm(runs_dir, dataset, s, claim.key) for s in (claim.better, claim.worse))
    paper_b, paper_w = _paper_number(claim, claim.better), _paper_number(claim, claim.worse)
    out: dict[str, Any] = {
        "id": claim.id, "statement": claim.statement, "source": claim.source, "dataset": dataset,
        "metric": claim.key, "metric_name": names.metric_name(claim.key),
        "better_run": run_name(dataset, *claim.better), "worse_run": run_name(dataset, *claim.worse),
        "paper": {"better": paper_b, "worse": paper_w,
                  "diff": None if paper_b is None or paper_w is None else round(paper_b - paper_w, 4)},
    }
    if better is None or worse is None:
        missing = [out["better_run"] if better is None else None, out["worse_run"] if worse is None else None]
        out.update(ours=None, verdict="no run",
                   verdict_text=f"no run: {', '.join(m for m in missing if m)} not found")
        return out
    interval = welch_interval(better, worse)
    verdict = _verdict(interval.low, interval.high)
    n_text = f"n={better.n} vs {worse.n} seeds"
    if verdict != "inconclusive":
        text = f"{verdict} at {n_text}"
    elif interval.low is None:
        text = f"inconclusive at {n_text}: fewer than 2 seeds in an arm, no interval"
    else:
        text = f"inconclusive at {n_text}: the 95 % interval contains 0"
    out.update(ours={"better": vars(better), "worse": vars(worse), "diff": interval.diff, "ci_low": interval.low,
                     "ci_high": interval.high, "df": interval.df, "level": interval.level},
               verdict=verdict, verdict_text=text)
    return out


def evaluate_claims(runs_dir: str | Path) -> list[dict[str, Any]]:
    """Every claim of :func:`paper_claims` against ``runs_dir`` (run folders, or ``<run>.json`` summaries)."""
    return [evaluate_claim(claim, Path(runs_dir)) for claim in paper_claims()]


def claims_json(results: list[dict[str, Any]], *, profile: str, synthetic: bool) -> dict[str, Any]:
    """The claims as ``metrics/claims.json``: method, profile, and one entry per claim id."""
    return {"method": WELCH_METHOD, "profile": profile, "synthetic": synthetic,
            "verdict_counts": {v: sum(r["verdict"] == v for r in results) for v in VERDICTS},
            "claims": {r["id"]: r for r in results}}
