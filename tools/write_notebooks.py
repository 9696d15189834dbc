"""Writes notebooks/*.ipynb (thin, parameterised, no outputs). Run after editing the cells here:

    PYTHONPATH=$PWD python tools/write_notebooks.py
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from bpmult.report.figures import FIGURES  # the one list of figures: one notebook section each

NOTEBOOKS = {
    "train": [
        new_markdown_cell("# Training one (dataset, variant) over its seeds\n\n"
                          "Trains with the active profile of `params.yaml` and writes the run's artifacts "
                          "(docs/design.md §3). Executed by the `train` stages of `dvc.yaml` through Papermill; "
                          "in JupyterLab it runs top to bottom with its defaults, one step per cell. A rerun "
                          "resumes: finished seeds are kept, an interrupted one continues from its checkpoint."),
        new_code_cell('dataset = "iemocap_aligned"\nvariant = "bpmult"\nmodalities = "TVA"\n'
                      'data_dir = "data/prepared/iemocap_aligned"\nrun_dir = "build/lab/runs/iemocap_aligned-bpmult"\n'
                      'metrics_path = "build/lab/metrics/iemocap_aligned-bpmult.json"\n'
                      'curves_dir = "build/lab/curves/iemocap_aligned-bpmult"\nparams_path = "params.yaml"\n'
                      'progress = True',
                      metadata={"tags": ["parameters"]}),
        new_markdown_cell("## The experiment\n\nThe profile's settings, the `--set`-style overrides and the "
                          "prepared data's manifest become one validated experiment before anything runs: a "
                          "bad value stops here, naming its `params.yaml` path."),
        new_code_cell("from IPython.display import Markdown, display\n\n"
                      "from bpmult.stages.paths import use_repo_root\n"
                      "from bpmult.stages.train import TrainStage\n\n"
                      "use_repo_root()  # paths are relative to the repository (Lab starts in notebooks/)\n"
                      "stage = TrainStage.plan(dataset=dataset, variant=variant, modalities=modalities,\n"
                      "                        data_dir=data_dir, run_dir=run_dir, metrics_path=metrics_path,\n"
                      "                        curves_dir=curves_dir, params_path=params_path)\n"
                      "display(Markdown(f\"**{stage.describe()}**\"))"),
        new_markdown_cell("## The data\n\nSamples per split, the shape of every input (steps × width), and the "
                          "share of positive samples per label: the class balance that the label-prior rows of "
                          "the tables are measured against."),
        new_code_cell("stage.data_table()"),
        new_markdown_cell("## The model\n\nThe full configuration (data-derived widths and lengths included) "
                          "and the trainable parameters per block."),
        new_code_cell("stage.model_settings()"),
        new_code_cell("stage.parameter_table()"),
        new_markdown_cell("## Training\n\nEvery seed in turn: Adam, the learning-rate schedule and early "
                          "stopping on the dev selection metric; the best dev epoch's weights are tested once."),
        new_code_cell("summary = stage.run(progress=progress)"),
        new_markdown_cell("## Learning curves\n\nThe dev selection metric and the dev loss per epoch, one line "
                          "per seed."),
        new_code_cell("stage.curves().plot(title=f\"dev {stage.experiment.selection_metric}\", xlabel=\"epoch\");"),
        new_code_cell("stage.curves(\"dev_loss\").plot(title=\"dev loss\", xlabel=\"epoch\");"),
        new_markdown_cell("## Test and dev metrics\n\nMean ± sample std over seeds, in % (dev at the selected "
                          "epoch)."),
        new_code_cell("stage.metrics_frame()"),
        new_code_cell("stage.per_seed_frame()"),
        new_markdown_cell("## Gates of a few test samples\n\nThe final GMU's mean gate value per input (first "
                          "seed): how much each modality contributes to the decision for these samples."),
        new_code_cell("stage.final_gates(samples=5)"),
    ],
    "tables": [
        new_markdown_cell("# Tables 1–6 of the paper beside our runs\n\n"
                          "Per cell: ours as mean ± std over seeds, the paper's value, and the difference "
                          "(ours − paper, in points), coloured by whether the paper's value lies within our ±2σ. "
                          "Cited rows are other publications' numbers as the paper quotes them; they are not "
                          "rerun. The notes list known defects of the printed tables."),
        new_code_cell('runs_dir = "runs"\nprepared_dir = "data/prepared"\nparams_path = "params.yaml"\n'
                      'tables_json_path = "build/lab/tables.json"',
                      metadata={"tags": ["parameters"]}),
        new_markdown_cell("Compare every table and write our cells to `tables_json_path` (what `dvc metrics show` "
                          "lists); the banner says which profile, data and seeds produced the numbers."),
        new_code_cell("from pathlib import Path\n\nfrom IPython.display import HTML, display\n\n"
                      "from bpmult import pipeline\nfrom bpmult.report import runs\n\n"
                      "pipeline.use_repo_root()  # paths are relative to the repository (Lab starts in notebooks/)\n"
                      "tables = pipeline.tables_stage(runs_dir=runs_dir, prepared_dir=prepared_dir,\n"
                      "                               params_path=params_path, tables_json_path=tables_json_path)\n"
                      "display(HTML(tables.banner_html))"),
        new_markdown_cell("## Where one number comes from\n\n"
                          "Each training run writes one `metrics.json` per seed and a `summary.json` with the mean, "
                          "the sample std and n over seeds. Here: BPMuLT's test AP-micro on Moviescope, per seed "
                          "(None when the run folder is absent), then as summarised."),
        new_code_cell('run = Path(runs_dir) / runs.run_name("moviescope", "bpmult")\n'
                      '{"per seed": runs.seed_values(run, "ap_micro"),\n'
                      ' "summary": (runs.read_summary(run) or {}).get("test", {}).get("ap_micro")}'),
        new_markdown_cell("## The comparison behind a table\n\n"
                          "The same number beside the paper's printed one: per row and column, ours, the paper's "
                          "value, Δ = ours − paper, and whether the paper's value is within our ±2σ "
                          "(`unknown` with fewer than 2 seeds). The tables below render these rows."),
        new_code_cell('tables.frame("table1_moviescope").round(2).head(12)'),
        *[c for key, title in [("table1_moviescope", "Table 1"), ("table2_moviescope_ablations", "Table 2"),
                               ("table3_mmimdb", "Table 3"), ("table4_iemocap_aligned", "Table 4"),
                               ("table5_iemocap_unaligned", "Table 5"), ("table6_mosei", "Table 6")]
          for c in (new_markdown_cell(f"## {title}"), new_code_cell(f'display(HTML(tables.html("{key}")))'))],
    ],
    "figures": [
        new_markdown_cell("# The paper's analysis figures, from our runs\n\n"
                          "Every figure is drawn from the gates and tokens a training run saved on its test "
                          "set (first seed). Captions name the paper figure reproduced and say which "
                          "activation is shown: the mean gate value z, or the share of gate units above 0.5."),
        new_code_cell('runs_dir = "runs"\nprepared_dir = "data/prepared"\nfigures_dir = "build/lab/figures"\n'
                      'params_path = "params.yaml"',
                      metadata={"tags": ["parameters"]}),
        new_markdown_cell("Set up the figure book: it reads the Moviescope runs under `runs_dir` and saves each "
                          "figure (stamped as synthetic on a synthetic profile) under `figures_dir`."),
        new_code_cell("from IPython.display import HTML, display\n\n"
                      "from bpmult import pipeline\nfrom bpmult.report import analysis, names\n\n"
                      "pipeline.use_repo_root()  # paths are relative to the repository (Lab starts in notebooks/)\n"
                      "figs = pipeline.figures_stage(runs_dir=runs_dir, prepared_dir=prepared_dir,\n"
                      "                              figures_dir=figures_dir, params_path=params_path)\n"
                      "display(HTML(figs.banner_html))"),
        new_markdown_cell("## What a run saved\n\n"
                          "BPMuLT's gates on the test set, batch first: `final` is the final GMU's z, "
                          "(N samples, k inputs, w units); the FGMU gates are (N, d)."),
        new_code_cell('run = figs.run("bpmult")\n{name: z.shape for name, z in run.gates.items()}'),
        new_markdown_cell("## From gates to Fig. 12's bars\n\n"
                          "The activation of an input is its mean z over the w units, then averaged over the test "
                          "samples. `Par` is the parallel branch H_P, `Poster` the poster vector."),
        new_code_cell('mean_z = analysis.gate_activation(run.gates["final"])["mean_z"]\n'
                      'dict(zip(map(names.input_name, run.final_inputs), mean_z.mean(axis=0).round(3).tolist()))'),
        *[c for spec in FIGURES
          for c in (new_markdown_cell(f"## {spec.paper_figure.capitalize()}: {spec.title}"),
                    new_code_cell(f'figs.show("{spec.file}")'))],
    ],
}


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "notebooks"
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"},
                                                 "language_info": {"name": "python"}})
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{name}-{i}"
        nbformat.write(nb, out / f"{name}.ipynb")


if __name__ == "__main__":
    main()
