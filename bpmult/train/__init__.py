"""The training engine: model-agnostic, deterministic, resumable, returning dicts.

``config`` (TrainConfig), ``runtime`` (device, seeds, threads, determinism, AMP), ``losses``,
``loop`` (one epoch, one inference pass), ``engine`` (one seed: select, test, write), ``checkpoint``
(verified, atomic), ``artifacts`` (the run's files, the summary over seeds), ``lock`` (one trainer
per folder) and ``metrics`` (the paper's metrics). Wiring a model and a dataset to the engine is
:mod:`bpmult.experiment`'s job.
"""

from bpmult.train.artifacts import summarize
from bpmult.train.config import TrainConfig
from bpmult.train.engine import Objective, SeedData, train_seed
from bpmult.train.losses import TaskLoss, iemocap_loss, pos_weight, probabilities
from bpmult.train.loop import NonFiniteLossError, evaluate, predict, train_one_epoch
from bpmult.train.metrics import compute_metrics, selection_metric
from bpmult.train.runtime import deterministic_algorithms, pick_device, seed_everything

__all__ = ["NonFiniteLossError", "Objective", "SeedData", "TaskLoss", "TrainConfig", "compute_metrics",
           "deterministic_algorithms", "evaluate", "iemocap_loss", "pick_device", "pos_weight", "predict",
           "probabilities", "seed_everything", "selection_metric", "summarize", "train_one_epoch", "train_seed"]
