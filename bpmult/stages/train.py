"""The train stage: one (dataset, variant) over the profile's seeds, shown step by step.

``notebooks/train.ipynb`` walks through a :class:`TrainStage`: the prepared data's shapes and
label balance, the model and its parameters, training, the learning curves, dev/test metrics, and
the gates of a few test samples. The stage resumes: DVC keeps the run folder (``persist``), a
finished seed whose settings and data are unchanged is kept, an interrupted one continues from its
checkpoint, and a seed trained with other settings or data starts over.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bpmult.atomic import atomic_write_text
from bpmult.experiment.run import load_trained, seed_data, train_experiment
from bpmult.experiment.spec import Experiment, plan
from bpmult.stages.paths import PARAMS, active_profile
from bpmult.paramsfile import load_params


@dataclass
class TrainStage:
    """One train stage of ``dvc.yaml``, planned (validated) before anything runs."""

    experiment: Experiment
    run_dir: Path
    metrics_path: Path
    curves_dir: Path
    profile: str
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def plan(cls, *, dataset: str, variant: str, modalities: str, data_dir: str, run_dir: str, metrics_path: str,
             curves_dir: str, params_path: str = str(PARAMS), overrides: tuple[str, ...] = ()) -> "TrainStage":
        params = load_params(params_path)
        profile = active_profile(params)
        exp = plan(data_dir, variant, dataset=dataset, modalities=modalities, profile=profile, params=params,
                   overrides=overrides)
        return cls(exp, Path(run_dir), Path(metrics_path), Path(curves_dir), profile)

    @property
    def title(self) -> str:
        return f"{self.experiment.dataset} / {self.experiment.variant} ({self.experiment.modalities})"

    def describe(self) -> str:
        exp = self.experiment
        synthetic = exp.manifest.get("synthetic")
        kind = "SYNTHETIC data (written by bpmult synth in the real formats)" if synthetic else "real data"
        return (f"{self.title}: profile '{self.profile}', {kind}, seeds {list(exp.seeds)}, "
                f"selected on dev {exp.selection_metric}")

    def data_table(self) -> pd.DataFrame:
        """Per split: samples, every input's shape, and the positive rate of each label."""
        data = seed_data(self.experiment.data_dir, self.experiment.manifest)
        rows = []
        for split, ds in data.splits.items():
            labels = np.asarray(ds.arrays["label"])
            row: dict[str, Any] = {"split": split, "samples": len(ds)}
            row.update({name: "×".join(map(str, ds.arrays[name].shape[1:])) for name in ds.modalities})
            positives = labels.mean(axis=0) if labels.ndim == 2 else np.zeros(0)
            row.update({f"% {n}": round(100 * float(p), 1) for n, p in zip(ds.label_names, positives)})
            rows.append(row)
        return pd.DataFrame(rows).set_index("split")

    def parameter_table(self) -> pd.DataFrame:
        """Trainable parameters per top-level block of the model."""
        model = self.experiment.build_model()
        rows = [{"block": name, "parameters": sum(p.numel() for p in child.parameters() if p.requires_grad)}
                for name, child in model.named_children()]
        rows.append({"block": "total", "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)})
        return pd.DataFrame(rows).set_index("block")

    def model_settings(self) -> pd.DataFrame:
        exp = self.experiment
        values = {**{f"model.{k}": v for k, v in vars(exp.model).items()},
                  **{f"train.{k}": v for k, v in exp.train.to_dict().items()}}
        return pd.DataFrame({"value": [str(v) for v in values.values()]}, index=list(values))

    def run(self, progress: bool | str = True) -> dict[str, Any]:
        """Train every seed (resuming), then copy the summary and the curves out for DVC.

        ``progress``: True (bars in the notebook), False, or ``"console"``: epoch lines (and bars on
        a terminal) on the terminal that runs the pipeline, not in the page (the kernel's own stderr,
        which ``bpmult notebook`` leaves uncaptured)."""
        if progress not in (True, False, "console"):
            raise ValueError(f"progress: expected True, False or 'console', found {progress!r}")
        stream = sys.__stderr__ if progress == "console" else progress
        self.summary = train_experiment(self.experiment, self.run_dir, resume="auto", progress=stream)
        atomic_write_text(self.metrics_path, json.dumps(self.summary, indent=2, sort_keys=True))
        if self.curves_dir.exists():
            shutil.rmtree(self.curves_dir)
        self.curves_dir.mkdir(parents=True)
        for seed in self.experiment.seeds:
            shutil.copyfile(self.run_dir / f"seed_{seed}" / "history.csv", self.curves_dir / f"seed_{seed}.csv")
        return self.summary

    def histories(self) -> pd.DataFrame:
        """Every seed's history, long format (a ``seed`` column)."""
        frames = [pd.read_csv(self.run_dir / f"seed_{s}" / "history.csv").assign(seed=s) for s in self.experiment.seeds]
        return pd.concat(frames, ignore_index=True)

    def curves(self, column: str | None = None) -> pd.DataFrame:
        """One column per seed of ``column`` (default the dev selection metric) by epoch."""
        column = column or f"dev_{self.experiment.selection_metric}"
        return self.histories().pivot(index="epoch", columns="seed", values=column)

    def metrics_frame(self) -> pd.DataFrame:
        rows = []
        for split in ("test", "dev"):
            for key, entry in self.summary.get(split, {}).items():
                if isinstance(entry, dict) and "mean" in entry:
                    rows.append({"split": split, "metric": key, "mean": entry["mean"], "std": entry.get("std"),
                                 "n seeds": entry.get("n")})
        return pd.DataFrame(rows).round(2)

    def per_seed_frame(self) -> pd.DataFrame:
        rows = []
        for seed in self.experiment.seeds:
            m = json.loads((self.run_dir / f"seed_{seed}" / "metrics.json").read_text())
            rows.append({"seed": seed, "best epoch": m.get("best_epoch"), "train seconds": m.get("train_seconds"),
                         **{f"test {k}": v for k, v in m.get("test", {}).items() if isinstance(v, (int, float))}})
        return pd.DataFrame(rows).round(2)

    def final_gates(self, samples: int = 5) -> pd.DataFrame:
        """The final GMU's mean gate value per input for the first test samples (first seed)."""
        seed = self.experiment.seeds[0]
        with np.load(self.run_dir / f"seed_{seed}" / "analysis.npz") as analysis:
            if "gates/final" not in analysis.files:
                return pd.DataFrame({"note": [f"{self.experiment.variant} has no final GMU"]})
            gates = analysis["gates/final"][:samples]
            inputs = [str(n) for n in analysis["final_inputs"]]
        means = gates.reshape(gates.shape[0], gates.shape[1], -1).mean(axis=-1)
        return pd.DataFrame(means, columns=inputs[: means.shape[1]],
                            index=[f"test sample {i}" for i in range(len(means))]).round(3)

    def trained(self, seed: int | None = None):
        """The trained model of ``seed`` (default the first), rebuilt with its best weights."""
        return load_trained(self.run_dir, seed=seed if seed is not None else self.experiment.seeds[0])
