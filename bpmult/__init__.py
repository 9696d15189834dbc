"""bpmult: the Biprojection Multimodal Transformer (BPMuLT) and its baselines, reproducibly."""

__version__ = "0.1.0"
