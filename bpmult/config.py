"""The three configuration records of the package, in one place.

- :class:`ModelConfig` (``bpmult/models/config.py``): every variant and ablation as fields.
- :class:`DataConfig` (``bpmult/data/config.py``): lengths, vocabularies and the text encoder.
- :class:`TrainConfig` (``bpmult/train/config.py``): optimiser, schedule, stopping, device.
"""

from bpmult.data.config import DataConfig
from bpmult.models.config import ModelConfig
from bpmult.train.config import TrainConfig

__all__ = ["DataConfig", "ModelConfig", "TrainConfig"]
