"""Every MM-IMDb variant of the paper profile plans on word-piece data (text_features: token_ids).

The paper profile prepares BERT word pieces; the GMU baseline (Arevalo et al.) reads the mean of
its GloVe sequence and the poster, never the text, so it must not get a text encoder (it used to,
and `train@mmimdb-gmu` of the paper profile failed: "the GMU baseline ... takes no text_encoder").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bpmult.experiment import params as profiles
from bpmult.experiment.spec import from_resolved

REPO = Path(__file__).resolve().parents[2]
MANIFEST = {
    "dataset": "mmimdb", "task": "multilabel", "label_names": [f"g{i}" for i in range(23)],
    "modalities": {"text_ids": [512], "text_mask": [512], "video": [512, 300], "audio": [512, 1], "poster": [4096]},
    "text_encoder": {"name": "bert-base-uncased", "dim": 768, "length": 512, "first_token_is_cls": True,
                     "features": "token_ids"},
}


@pytest.mark.parametrize("profile", ["paper", "paper-shapes"])
@pytest.mark.parametrize("variant", ["gmu", "mult_gmu", "bpmult", "bpmult_no_parallel"])
def test_mmimdb_variants_plan_on_word_pieces(profile, variant):
    resolved = profiles.resolve(profiles.load_params(REPO / "params.yaml"), "mmimdb", variant, profile=profile)
    exp = from_resolved(Path("data/prepared/mmimdb"), MANIFEST, "mmimdb", variant, resolved)
    if variant == "gmu":
        assert exp.model.text_encoder is None and exp.model.gmu_text_modality == "video"
    else:
        assert exp.model.text_encoder is not None and exp.model.orig_d_text == 768
