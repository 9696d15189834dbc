"""Writes notebooks/*.ipynb (thin, parameterised, no outputs). Run after editing the cells here."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

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
                          "Per cell: the paper's value, ours as mean ± std over seeds with the seed count, and "
                          "the difference (ours − paper, in points). Cited rows are other publications' "
                          "numbers as the paper quotes them; they are not rerun. The notes list known defects "
                          "of the printed tables."),
        new_code_cell('runs_dir = "runs"\nprepared_dir = "data/prepared"\nparams_path = "params.yaml"\n'
                      'tables_json_path = "build/lab/tables.json"',
                      metadata={"tags": ["parameters"]}),
        new_code_cell("from IPython.display import HTML, display\n\nfrom bpmult import pipeline\n\n"
                      "pipeline.use_repo_root()  # paths are relative to the repository (Lab starts in notebooks/)\n"
                      "tables = pipeline.tables_stage(runs_dir=runs_dir, prepared_dir=prepared_dir,\n"
                      "                               params_path=params_path, tables_json_path=tables_json_path)\n"
                      "display(HTML(tables.banner_html))"),
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
        new_code_cell("from IPython.display import HTML, display\n\nfrom bpmult import pipeline\n\n"
                      "pipeline.use_repo_root()  # paths are relative to the repository (Lab starts in notebooks/)\n"
                      "figs = pipeline.FigureStage(runs_dir=runs_dir, prepared_dir=prepared_dir,\n"
                      "                            figures_dir=figures_dir, params_path=params_path)\n"
                      "display(HTML(figs.banner_html))"),
        *[c for name in ["gate_activation_per_modality", "gate_activation_per_genre_mult_gmu",
                         "gate_activation_per_genre_bpmult", "gate_activation_all_transformers",
                         "fgmu_activation_boxplots", "tsne_final_gmu_text", "tsne_ct_tokens",
                         "tsne_final_gmu_other_modalities"]
          for c in (new_markdown_cell(f"## {name.replace('_', ' ')}"), new_code_cell(f'figs.show("{name}")'))],
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
