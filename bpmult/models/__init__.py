"""Models: ``ModelConfig``, the registry of variants and the model classes.

>>> from bpmult.models import variant_config, build_model
>>> model = build_model(variant_config("bpmult", d_model=16, num_heads=2, layers=1))
"""

from bpmult.models.config import ModelConfig
from bpmult.models.presets import DATASET_PRESETS, dataset_config
from bpmult.models.registry import VARIANTS, build_model, count_parameters, variant_config

__all__ = [
    "DATASET_PRESETS", "ModelConfig", "VARIANTS", "build_model", "count_parameters", "dataset_config",
    "variant_config",
]
