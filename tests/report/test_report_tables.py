import json

import pytest

from bpmult import report
from bpmult.report import pages, runs, tables


def _summary(**metrics):
    return {"test": {k: {"mean": m, "std": s, "n": n} for k, (m, s, n) in metrics.items()}}


def test_paper_results_are_packaged_with_every_table():
    paper = tables.load_paper_results()
    assert sorted(paper) == ["table1_moviescope", "table2_moviescope_ablations", "table3_mmimdb",
                              "table4_iemocap_aligned", "table5_iemocap_unaligned", "table6_mosei"]
    row = paper["table1_moviescope"]["rows"][-1]
    assert row["model"] == "bpmult" and row["ap_samples"] == [92.4, 0.1]


def test_run_names():
    assert runs.run_name("moviescope", "mult_gmu", "TVAPM") == "moviescope-mult_gmu-tvapm"
    assert runs.run_name("moviescope", "mult_gmu", "TVAP") == "moviescope-mult_gmu"
    assert runs.run_name("mosei", "bpmult") == "mosei-bpmult"


def test_compare_flat_table_uses_our_summary_and_marks_cited(tmp_path):
    run = tmp_path / "moviescope-bpmult"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(_summary(ap_micro=(80.0, 1.0, 2), ap_macro=(70.0, 0.5, 2))))
    table = tables.load_paper_results()["table1_moviescope"]
    rows = {(r["model"], r["modalities"]): r for r in tables.compare_table(table, tmp_path)}
    cell = rows[("bpmult", "TVAP")]["cells"]["ap_micro"]
    assert (cell.paper, cell.paper_std, cell.ours, cell.ours_std, cell.n) == (81.7, 0.2, 80.0, 1.0, 2)
    assert cell.diff == pytest.approx(-1.7)
    # a metric the run lacks, and a row with no run, stay empty rather than invented
    assert rows[("bpmult", "TVAP")]["cells"]["ap_samples"].ours is None
    assert rows[("mult", "TVAP")]["cells"]["ap_micro"].ours is None
    cited = rows[("mmbt", "TVAP")]
    assert cited["source"] == "cited" and cited["run"] is None


def test_emotion_table_columns_map_average_to_avg_keys(tmp_path):
    table = tables.load_paper_results()["table6_mosei"]
    cols = tables.table_columns(table)
    assert ("anger", "wacc", "anger_wacc") in cols and ("average", "f1", "avg_f1") in cols
    run = tmp_path / "mosei-bpmult"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(_summary(avg_wacc=(61.0, 2.0, 3))))
    row = [r for r in tables.compare_table(table, tmp_path) if r["model"] == "bpmult"][0]
    cell = row["cells"]["avg_wacc"]
    assert (cell.paper, cell.paper_std, cell.ours) == (68.0, 0.6, 61.0)
    assert row["cells"]["anger_wacc"].paper == 69.3 and row["cells"]["anger_wacc"].paper_std is None


def test_table_html_shows_notes_and_no_invented_numbers(tmp_path):
    table = tables.load_paper_results()["table3_mmimdb"]
    out = tables.table_html(table, tables.compare_table(table, tmp_path))
    assert "cited, not rerun" in out
    assert "The two BPMuLT rows are identical" in out
    # no run directory: every cell of every row we train says so, none shows a number of ours
    ours_rows = [r for r in table["rows"] if r["source"] == "ours"]
    assert out.count("<b>no run</b>") == len(ours_rows) * len(table["metrics"])
    assert 'class="within"' not in out and 'class="beyond"' not in out


def test_corrupt_summary_names_the_file(tmp_path):
    run = tmp_path / "mosei-mult"
    run.mkdir()
    (run / "summary.json").write_text("{not json")
    with pytest.raises(ValueError, match="summary.json"):
        runs.read_summary(run)


def test_profile_statement_says_synthetic_in_plain_words():
    text = pages.profile_statement("embedded", True, [1, 2])
    assert "SYNTHETIC" in text and "not</b> a reproduction" in text
    assert "real data" in pages.profile_statement("paper", False, [1, 2, 3, 4, 5])
    assert "bpmult synth" in text


def test_fixture_data_declared_synthetic_is_not_said_to_come_from_bpmult_synth():
    text = pages.profile_statement("paper-shapes", True, [1], source="fetch")
    assert "SYNTHETIC" in text and "not</b> a reproduction" in text
    assert "bpmult synth" not in text and "data.synthetic: true" in text and "placed like the real" in text


def test_atomic_write_leaves_no_temporary(tmp_path):
    target = tmp_path / "a" / "page.html"
    pages.write_text_atomic(target, "<p>x</p>")
    assert target.read_text() == "<p>x</p>"
    assert [p.name for p in target.parent.iterdir()] == ["page.html"]


def test_former_flat_names_still_resolve():
    # the stage layer used `from bpmult import report; report.run_name(...)`
    assert report.run_name("mosei", "mult") == "mosei-mult"
    assert report.load_paper_results is tables.load_paper_results
    with pytest.raises(AttributeError):
        report.no_such_name  # noqa: B018
