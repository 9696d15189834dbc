"""Building blocks: MuLT's attention and encoders, positional embedding, GMU / FGMU, small heads."""

from bpmult.nn.attention import MultiheadAttention
from bpmult.nn.audio import AudioEncoder, min_audio_frames
from bpmult.nn.encoder import TransformerEncoder
from bpmult.nn.fgmu import ExtendedFusionGMU, FusionGMU
from bpmult.nn.gmu import GMU, BimodalGMU, GatedOutput
from bpmult.nn.layer import TransformerEncoderLayer
from bpmult.nn.masks import allowed_positions, masks_nothing
from bpmult.nn.positional import SinusoidalPositionalEmbedding, sinusoidal_table
from bpmult.nn.residual import ResidualBlock
from bpmult.nn.time_reduction import TimeReduction, fit_length
from bpmult.nn.translating import TranslatingLayer

__all__ = [
    "AudioEncoder", "BimodalGMU", "ExtendedFusionGMU", "FusionGMU", "GMU", "GatedOutput",
    "MultiheadAttention", "ResidualBlock", "SinusoidalPositionalEmbedding", "TimeReduction",
    "TransformerEncoder", "TransformerEncoderLayer", "TranslatingLayer", "allowed_positions",
    "fit_length", "masks_nothing", "min_audio_frames", "sinusoidal_table",
]
