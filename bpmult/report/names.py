"""The paper's names for our code names: models, metrics, datasets, emotions and GMU inputs.

Every page and figure shows the paper's name; tables add the code name (the run folder, the
``--variant`` value) in small type so a reader can find the run behind a number.
"""

from __future__ import annotations

# the paper's spelling (Tables 1-6); its ablations are "BPMult-<name>" in Table 2
MODELS = {
    "mult": "MuLT",
    "mult_gmu": "MuLT-GMU",
    "mult_gmu_no_encoder": "MuLT-GMU-no-encoder",
    "gmu": "GMU",
    "bpmult": "BPMuLT",
    "bpmult_no_parallel": "BPMuLT-no-parallel",
    "bpmult_translating": "BPMuLT-translating",
    "bpmult_with_transformer": "BPMuLT-with-transformer",
    "bpmult_no_fgmu_middle": "BPMuLT-no-FGMU-middle",
    "bpmult_no_rc": "BPMuLT-no-RC",
    "bpmult_no_fgmu": "BPMuLT-no-FGMU",
    "bpmult_no_fgmu_nor_rc": "BPMuLT-no-FGMU-nor-RC",
    "bpmult_all_transformers": "BPMuLT-all-transformers",
    # rows the paper cites from other publications
    "mmbt": "MMBT",
    "fast_ma": "Fast-MA",
    "concat_bert": "ConcatBERT",
    "modtrans_mmemore": "ModTrans-MMEmoRe",
    "fe2e": "FE2E",
    "mesm": "MESM (0.5)",
    "label prior": "label prior",
}

METRICS = {
    "ap_micro": "AP-micro", "ap_macro": "AP-macro", "ap_samples": "AP-samples",
    "f1_micro": "F1-micro", "f1_macro": "F1-macro", "f1_weighted": "F1-weighted", "f1_samples": "F1-samples",
    "acc": "Acc", "auc": "AUC", "f1": "F1", "wacc": "W-Acc", "loss": "loss",
}

DATASETS = {
    "moviescope": "Moviescope", "mmimdb": "MM-IMDb", "iemocap_aligned": "IEMOCAP (aligned)",
    "iemocap_unaligned": "IEMOCAP (unaligned)", "mosei": "CMU-MOSEI",
}

# final-GMU inputs as the figures label them: "P" is the parallel branch H_P (eq. 23) and would
# read as the poster beside it, so it is "Par"
INPUTS = {"P": "Par", "poster": "Poster", "metadata": "Meta"}


def model_name(code: str) -> str:
    """The paper's name of a model (the code name itself when the paper has none)."""
    return MODELS.get(code, code)


def metric_name(code: str) -> str:
    """The paper's name of a metric key: ``ap_micro`` -> AP-micro, ``avg_wacc`` -> average W-Acc."""
    if code in METRICS:
        return METRICS[code]
    prefix, _, metric = code.rpartition("_")
    if prefix and metric in METRICS:
        group = "average" if prefix == "avg" else prefix
        return f"{group} {METRICS[metric]}"
    return code


def dataset_name(code: str) -> str:
    return DATASETS.get(code, code)


def input_name(code: str) -> str:
    """Label of a final-GMU input in the figures (``P`` -> Par, ``poster`` -> Poster)."""
    return INPUTS.get(code, code)
