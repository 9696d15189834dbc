"""Experiments: profiles and overrides (``params``), validated experiments (``spec``), and the
wiring that trains them and loads what they trained (``run``).

    from bpmult.experiment import plan, train_experiment, load_trained
    exp = plan("data/prepared/mosei", "bpmult", overrides=["train.lr=1e-3"])
    summary = train_experiment(exp, "runs/mosei-bpmult")
    trained = load_trained("runs/mosei-bpmult", seed=1)     # .model, .config
"""

from bpmult.experiment.params import Resolved, load_params, parse_override, parse_seeds, resolve
from bpmult.experiment.run import (TrainedModel, load_trained, registry_model, seed_data, train_experiment, train_run,
                                   train_seeds, trained_seeds)
from bpmult.experiment.spec import Experiment, from_manifest, model_inputs, plan, resolve_modalities

__all__ = ["Experiment", "from_manifest", "Resolved", "TrainedModel", "load_params", "load_trained", "model_inputs", "parse_override",
           "parse_seeds", "plan", "registry_model", "resolve", "resolve_modalities", "seed_data", "train_experiment",
           "train_run", "train_seeds", "trained_seeds"]
