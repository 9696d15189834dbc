"""The paper's [CLS] tokens are blind under MuLT's causal mask: measured, and the remedy measured."""

import pytest
import torch

from bpmult.models.blind_token import PARALLEL_KEY, measure_blind_tokens
from bpmult.models.definitions import definition_config

# H'_L is not blind: its level-1 residual tokens Z_{A->V}, Z_{V->A} are read at their last step
TEXT_TIME_BLIND = ("V->L", "(A->V)->L", "(V->A)->L", PARALLEL_KEY)


def small(definition="paper", lengths=(6, 6, 6), **overrides):
    text, video, audio = lengths
    return definition_config(
        definition, "mmimdb", "bpmult", d_model=8, num_heads=2, layers=2, orig_d_text=6, orig_d_video=5,
        orig_d_audio=3, extras=(("poster", 4),), len_text=text, len_video=video, len_audio=audio, parallel_len=4,
        n_classes=3, **overrides,
    )


def batch_for(cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {m: torch.randn(2, n, w, generator=g) + 0.5 for m, n, w in
           zip(("text", "video", "audio"), (cfg.len_text, cfg.len_video, cfg.len_audio), (6, 5, 3))}
    out["poster"] = torch.randn(2, 4, generator=g)
    return out


def test_paper_tokens_in_text_time_are_blind_to_every_video_step_but_the_first():
    cfg = small()
    assert cfg.token == "first_for_bert_text" and cfg.attn_mask and cfg.text_first_token_is_cls
    deltas = measure_blind_tokens(cfg, batch_for(cfg))
    for name in TEXT_TIME_BLIND:
        assert deltas[name] == 0.0, (name, deltas[name])
    # the change does reach the model: tokens in video or audio time and the logits move
    assert deltas["L->V"] > 1e-3 and deltas["(A->L)->V"] > 1e-3 and deltas["logits"] > 1e-6


@pytest.mark.parametrize("remedy", [dict(token="first_plus_last"), dict(token="last"), dict(attn_mask=False)])
def test_the_remedy_makes_them_see(remedy):
    cfg = small(**remedy)
    deltas = measure_blind_tokens(cfg, batch_for(cfg))
    for name in ("V->L", "(A->V)->L", "(V->A)->L"):
        assert deltas[name] > 1e-3, (name, deltas[name])
    if remedy.get("token"):  # with the mask off, self-attention still sees all steps: not blind
        assert deltas[PARALLEL_KEY] > 1e-3


def test_the_authors_definition_is_not_blind():
    cfg = small("authors", lengths=(6, 6, 6))
    deltas = measure_blind_tokens(cfg, batch_for(cfg))
    assert min(deltas[n] for n in ("V->L", "(A->V)->L", "(V->A)->L", PARALLEL_KEY)) > 1e-3


def test_a_longer_video_is_seen_up_to_the_length_difference():
    # text 4, video 7: step 0 sees video keys 0..3, so changing steps 4.. changes nothing and step 3 does
    cfg = small(lengths=(4, 7, 7))
    batch = batch_for(cfg)
    blind = measure_blind_tokens(cfg, batch, keep=4)
    assert all(blind[n] == 0.0 for n in ("V->L", "(A->V)->L", "(V->A)->L"))
    seen = measure_blind_tokens(cfg, batch, keep=3)
    assert min(seen[n] for n in ("V->L", "(A->V)->L", "(V->A)->L")) > 1e-3


def test_bad_keep_is_an_error():
    cfg = small()
    with pytest.raises(ValueError, match="keep must lie in 1..5"):
        measure_blind_tokens(cfg, batch_for(cfg), keep=6)
