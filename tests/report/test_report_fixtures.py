"""Tables, figures and the index page built from small fixture runs (no training, no dvc)."""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from report_fixtures import GENRES, write_prepared, write_run  # noqa: E402

from bpmult.report import figures, gallery, index, tables  # noqa: E402
from bpmult.report.pages import profile_statement  # noqa: E402

AP = ("ap_micro", "ap_macro", "ap_samples")


def _ap(micro, macro=50.0, samples=60.0):
    return {"ap_micro": micro, "ap_macro": macro, "ap_samples": samples}


@pytest.fixture()
def tree(tmp_path):
    """runs/ with the three figure runs and Table 1 rows; data/prepared/moviescope."""
    runs, prepared = tmp_path / "runs", tmp_path / "prepared"
    write_run(runs, "moviescope-bpmult", [_ap(81.5), _ap(81.9)])          # paper 81.7 ± 0.2: within 2σ
    write_run(runs, "moviescope-mult_gmu", [_ap(40.0), _ap(40.2)])        # paper 79.8: far beyond
    write_run(runs, "moviescope-bpmult_all_transformers", [_ap(30.0)])    # one seed: no σ
    write_prepared(prepared)
    return tmp_path, runs, prepared


def test_tables_json_and_html_from_fixture_runs(tree):
    root, runs, prepared = tree
    result = tables.write_tables(runs_dir=runs, prepared_dir=prepared, tables_json_path=root / "t.json",
                                 banner_html=profile_statement("embedded", True, [1, 2]))
    flat = json.loads((root / "t.json").read_text())
    assert flat["table1_moviescope"]["moviescope-bpmult"]["ap_micro"] == pytest.approx(81.7)
    assert flat["table2_moviescope_ablations"]["moviescope-bpmult_all_transformers"]["ap_micro"] == 30.0
    assert "label_prior" in flat["table1_moviescope"]  # prepared data present: the prior row is computed
    rows = {(r["model"], r["modalities"]): r for r in result.compared("table1_moviescope")}
    assert rows[("bpmult", "TVAP")]["cells"]["ap_micro"].agreement == "within"
    assert rows[("mult_gmu", "TVAP")]["cells"]["ap_micro"].agreement == "beyond"
    assert rows[("mult", "TVAP")]["cells"]["ap_micro"].agreement == "unknown"  # no run
    table2 = result.html("table2_moviescope_ablations")
    assert "<b>30.0</b>" in table2 and "30.0 <small>±0.0" not in table2  # one seed: no spread shown
    out = result.html("table1_moviescope")
    # paper names as labels, code names only as the run folder
    assert ">MuLT-GMU <small>" in out and ">AP-micro<" in out and ">ap_micro<" not in out
    assert "<code>moviescope-mult_gmu</code>" in out
    assert 'class="within"' in out and 'class="beyond"' in out
    assert "<style>" in result.banner_html and "SYNTHETIC" in result.banner_html
    frame = result.frame("table1_moviescope")
    assert set(frame["within ±2σ"]) == {"within", "beyond", "unknown"}


def test_table6_notes_carry_no_spec_instructions():
    text = json.dumps(tables.load_paper_results())
    assert "Render as printed" not in text and "flag it" not in text


def test_every_figure_is_drawn_saved_and_indexed(tree):
    _, runs, prepared = tree
    out = tree[0] / "figs"
    book = gallery.FigureBook(runs_dir=runs, prepared_dir=prepared, figures_dir=out, profile="embedded",
                              synthetic=True, seeds=[1, 2])
    for spec in figures.FIGURES:
        book.save(spec.file)
    saved = json.loads((out / "index.json").read_text())
    assert [e["name"] for e in saved] == [s.file for s in figures.FIGURES]
    for entry in saved:
        png = out / entry["file"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert entry["caption"] == figures.BY_FILE[entry["name"]].caption and entry["numbers"]
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temporary left
    # the fixture tokens separate the first genre: t-SNE finds structure, the silhouette is a number
    assert np.isfinite(saved[[e["name"] for e in saved].index("tsne_ct_A_to_V")]["numbers"]["silhouette"])


def test_figure_runs_are_the_runs_the_table_reads():
    assert figures.figure_runs() == ["moviescope-bpmult", "moviescope-bpmult_all_transformers",
                                     "moviescope-mult_gmu"]
    assert len({s.file for s in figures.FIGURES}) == len(figures.FIGURES)


def test_synthetic_mark_only_on_synthetic_profiles(tree):
    _, runs, prepared = tree
    for synthetic in (True, False):
        book = gallery.FigureBook(runs_dir=runs, prepared_dir=prepared, figures_dir=tree[0] / f"f{synthetic}",
                                  profile="embedded" if synthetic else "paper", synthetic=synthetic, seeds=[1])
        fig = book.build("gate_activation_per_modality")
        fig.save(tree[0] / "x", book.profile if synthetic else None)
        marks = [t.get_text() for t in fig.figure.texts]
        assert ("SYNTHETIC DATA" in marks) is synthetic


def test_fig12_labels_parallel_branch_apart_from_poster(tree):
    _, runs, prepared = tree
    book = gallery.FigureBook(runs_dir=runs, prepared_dir=prepared, figures_dir=tree[0] / "f", profile="p",
                              synthetic=False, seeds=[1])
    fig = book.build("gate_activation_per_modality").figure
    bpmult_axis = fig.axes[1]
    assert [t.get_text() for t in bpmult_axis.get_xticklabels()] == ["L", "V", "A", "Par", "Poster"]


def test_fig13_14_shares_sum_to_one_per_genre(tree):
    _, runs, prepared = tree
    book = gallery.FigureBook(runs_dir=runs, prepared_dir=prepared, figures_dir=tree[0] / "f", profile="p",
                              synthetic=False, seeds=[1])
    fig = book.build("gate_activation_per_genre_bpmult")
    assert list(fig.numbers) == GENRES
    for shares in fig.numbers.values():
        assert list(shares) == ["L", "V", "A", "Par", "Poster"]  # FINAL_INPUTS["bpmult"], as labelled
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)
    ax = fig.figure.axes[0]
    tops = [p.get_y() + p.get_height() for p in ax.patches]
    assert max(tops) == pytest.approx(1.0, abs=1e-6) and ax.get_ylim()[1] == 1.0


def test_fig16_zooms_to_the_data_and_labels_its_axis(tree):
    _, runs, prepared = tree
    book = gallery.FigureBook(runs_dir=runs, prepared_dir=prepared, figures_dir=tree[0] / "f", profile="p",
                              synthetic=False, seeds=[1])
    ax = book.build("fgmu_activation_boxplots").figure.axes[0]
    low, high = ax.get_ylim()
    assert "weight" in ax.get_ylabel()
    # fixture FGMU gates are 0.5 ± 0.01: the axis spans a few hundredths, not 0..1
    assert low < 0.5 < high and high - low < 0.2


def test_index_page_from_fixtures(tree):
    root, runs, prepared = tree
    reports = root / "reports"
    (reports / "train").mkdir(parents=True)
    (reports / "train" / "moviescope-bpmult.html").write_text("<p>run</p>")
    book = gallery.FigureBook(runs_dir=runs, prepared_dir=prepared, figures_dir=reports / "figures",
                              profile="embedded", synthetic=True, seeds=[1, 2])
    for name in ("fgmu_activation_boxplots", "gate_activation_per_modality"):  # out of FIGURES order
        book.save(name)
    claims = [{"id": "c", "statement": "BPMuLT beats MuLT-GMU on Moviescope AP-micro", "source": "Table 1",
               "better_run": "moviescope-bpmult", "worse_run": "moviescope-mult_gmu", "paper": {"diff": 1.9},
               "ours": None, "verdict": "no run", "verdict_text": "no run"}]
    out = index.write_index(reports_dir=reports, prepared_dir=prepared, runs_dir=runs, profile="embedded",
                            synthetic=True, seeds=[1, 2], diagrams_html="<p>diagrams here</p>", claims=claims)
    page = out.read_text()
    headline = page.index("Headline")
    assert headline < page.index("Moviescope genre classification") < page.index("Pages")
    assert page.index("BPMuLT <small>(TVAP)") > headline and 'class="within"' in page
    assert "MMBT" not in page[:page.index("Pages")]  # the headline shows our rows, not cited ones
    assert "href='claims.html'" in page and "1</b> no run" in page
    assert "Moviescope · BPMuLT" in page and "test AP-micro 81.7" in page
    # figures follow FIGURES (Fig. 12 before Fig. 16), whatever order they were drawn in
    assert page.index("gate_activation_per_modality.png") < page.index("fgmu_activation_boxplots.png")
    assert "diagrams here" in page and "SYNTHETIC" in page


def test_fidelity_table_names_both_definitions_and_a_check_per_point():
    from bpmult.report.fidelity import COLUMNS, FIDELITY_ROWS, fidelity_html

    assert all(len(row) == len(COLUMNS) and row[-1].strip() for row in FIDELITY_ROWS)
    page = fidelity_html()
    assert "ours: paper" in page and "ours: authors" in page and "exactly 0.0" in page
    # the two errors of the old table: the paper does not say BERT is fine-tuned, and the residual mode has a setting
    assert "BERT (fine-tuning not stated)" in page and "level1_residual_mode" in page


def test_each_table_row_says_which_definition_its_run_used(tmp_path):
    from bpmult.report.tables import compare_table, load_paper_results, table_html

    table = load_paper_results()["table1_moviescope"]
    run = tmp_path / "moviescope-bpmult"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"definition": "authors", "test": {
        "ap_micro": {"mean": 50.0, "std": 1.0, "n": 2}}}))
    page = table_html(table, compare_table(table, tmp_path))
    assert "authors definition" in page
