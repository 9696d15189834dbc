"""The numbers ``bpmult plan`` assumes that no file of the package measures: GPUs, BERT, trailers.

Each number says where it comes from. Nothing here is fetched: the plan must answer offline, in
seconds, before any download.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024 ** 3


@dataclass(frozen=True)
class GPU:
    """One GPU's memory and dense peak throughput (TFLOP/s, no structured sparsity).

    Attributes:
        name: the name ``--gpu`` takes.
        memory_gib: usable device memory as sold (GiB ≈ the datasheet's GB).
        fp32: non-tensor-core FP32 (PyTorch's default for float32 matmuls: TF32 is off unless
            ``torch.backends.cuda.matmul.allow_tf32`` is set).
        tf32: TF32 tensor cores.
        bf16: BF16 tensor cores with FP32 accumulation (``train.amp``: bf16 autocast).
    """

    name: str
    memory_gib: float
    fp32: float
    tf32: float
    bf16: float
    source: str


# Vendor datasheets, dense figures (the datasheets print the sparse ones, 2x, beside them):
# NVIDIA A100 Tensor Core GPU datasheet (SXM; 2021): FP32 19.5, TF32 156, BF16 312; 40 / 80 GB.
# NVIDIA H100 Tensor Core GPU datasheet (SXM5; 2023): FP32 67, TF32 494.5, BF16 989.5; 80 GB.
# NVIDIA H200 Tensor Core GPU datasheet (SXM; 2024): the H100's compute, 141 GB HBM3e.
# NVIDIA L40S datasheet (2023): FP32 91.6, TF32 183, BF16 362; 48 GB.
# NVIDIA Ada Lovelace architecture whitepaper v1.03, appendix (GeForce RTX 4090): FP32 82.6,
# TF32 82.6, BF16 (FP32 accumulate) 165.2; 24 GB.
GPUS: dict[str, GPU] = {gpu.name: gpu for gpu in (
    GPU("A100-40GB", 40, 19.5, 156.0, 312.0, "A100 datasheet (SXM)"),
    GPU("A100-80GB", 80, 19.5, 156.0, 312.0, "A100 datasheet (SXM)"),
    GPU("H100-80GB", 80, 67.0, 494.5, 989.5, "H100 datasheet (SXM5)"),
    GPU("H200", 141, 67.0, 494.5, 989.5, "H200 datasheet (SXM)"),
    GPU("L40S", 48, 91.6, 183.0, 362.0, "L40S datasheet"),
    GPU("RTX-4090", 24, 82.6, 82.6, 165.2, "Ada whitepaper (GeForce RTX 4090)"),
)}
DEFAULT_GPU = "H100-80GB"

# The share of the peak a training step reaches. Models of this size (d 300-768, sequences of a
# few hundred steps, batch 6-8) are far from large-LLM utilisation (40-50 % of peak); 35 % is a
# plain assumption, printed with every estimate, that a user can change with --utilisation.
UTILISATION = 0.35

# Memory the estimate does not count (CUDA context, cuBLAS/cuDNN workspaces, allocator
# fragmentation, transient tensors of the backward pass): a batch "fits" when the counted bytes
# stay below this share of the GPU's memory.
FIT_SHARE = 0.85

# Epochs actually trained. ``max_epochs`` is the bound; early stopping (patience 5-6 on the dev
# metric, learning rate halved after 2 flat epochs) ends the authors' runs well before it. The
# expected value below is an assumption, not a measurement: the MuLT/BPMuLT reference runs
# converge in 20-40 epochs; we take 40 (or max_epochs, if smaller) for runs with early stopping,
# and max_epochs for runs whose patience is not below max_epochs (MuLT's schedule: no early stop).
EXPECTED_EPOCHS = 40

# bert-base-uncased's config.json (Devlin et al. 2019; the Hugging Face model card), written here so
# the plan builds BERT on the meta device without downloading anything.
BERT_CONFIGS: dict[str, dict[str, object]] = {
    "bert-base-uncased": dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                              intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512,
                              type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0),
}

# Moviescope (Cascante-Bonilla et al. 2019) has 5,027 movies; the package's facts confirm only the
# test split (987). The plan counts the other 4,040 as training samples: an upper bound on the
# training compute (the dev split costs a forward pass only).
MOVIESCOPE_MOVIES = 5027
# Mel-spectrogram steps of a Moviescope batch under ``batch_shortest`` (the authors crop each batch
# to its shortest trailer): 400, the paper shape of ``bpmult bench`` (the audio encoder needs at
# least 382). Only the encoder's two convolutions depend on it: everything after them sees the
# pooled 200 steps, so a wrong guess moves the Moviescope FLOPs by well under 1 %.
MOVIESCOPE_BATCH_MEL_STEPS = 400
# Mel steps stored per trailer by prepare (zero padded to the longest trailer), for the disk
# estimate only: 11,700 is the length that reproduces issue 9's measured 47 GB of prepared
# Moviescope (5,027 movies; text then stored as 512 x 768 BERT features, VGG16 200 x 4096, poster,
# metadata), i.e. about 4.5 minutes at 43 steps/s (22,050 Hz, hop 512). The longest trailer of the
# real data decides it; ``data.moviescope_mel_steps`` replaces it when set.
MOVIESCOPE_STORED_MEL_STEPS = 11_700
