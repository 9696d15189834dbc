"""BPMuLT's wiring against its equations, recomputed from the model's own parts and analysis tokens."""

import pytest
import torch

from bpmult.models import build_model
from bpmult.models.parts import take_token
from bpmult.nn import GMU, ExtendedFusionGMU, TransformerEncoderLayer, TranslatingLayer
from tiny_models import BATCH, tiny_batch, tiny_config

# target -> (M1, M2) and letters, as in the authors' code
PAIRS = {"text": ("audio", "video"), "video": ("audio", "text"), "audio": ("video", "text")}
LETTER = {"text": "L", "video": "V", "audio": "A"}


def run(variant, **overrides):
    cfg = tiny_config(variant, extras=(("poster", 9),), **overrides)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    batch = tiny_batch(cfg)
    with torch.no_grad():
        logits, analysis = model(batch, return_analysis=True)
    return cfg, model, batch, logits, analysis["gates"], analysis["tokens"]


def names(m3):
    m1, m2 = PAIRS[m3]
    l1a, l1b = f"{LETTER[m1]}->{LETTER[m2]}", f"{LETTER[m2]}->{LETTER[m1]}"
    return l1a, l1b, f"({l1a})->{LETTER[m3]}", f"({l1b})->{LETTER[m3]}"


@torch.no_grad()
def test_level2_queries_the_target_and_attends_to_the_level1_output():
    cfg, model, batch, _, _, tokens = run("bpmult")
    x = model.inputs(batch)
    z1 = model.crossmodal(x)
    for m3, (m1, m2) in PAIRS.items():
        seq = model.biprojection[f"{m1}_to_{m2}_to_{m3}"](x[m3], z1[(m1, m2)])  # eq. 2-8
        assert seq.shape == (BATCH, x[m3].shape[1], cfg.d_model)
        assert torch.allclose(tokens[names(m3)[2]], seq[:, -1], atol=1e-6)
        # level 1: query M2, keys/values M1
        assert torch.allclose(tokens[names(m3)[0]], model.crossmodal[f"{m1}_to_{m2}"](x[m2], x[m1])[:, -1], atol=1e-6)


@torch.no_grad()
def test_residuals_eq_25_26_top_fgmu_and_middle_fgmu_eq_27():
    _, model, _, _, gates, tokens = run("bpmult")
    for m3 in PAIRS:
        l1a, l1b, l2a, l2b = names(m3)
        top = model.top_fgmu[m3]([tokens[l2a] + tokens[l1a], tokens[l2b] + tokens[l1b]])  # eq. 25-26, 12
        assert torch.allclose(tokens[f"H_{LETTER[m3]}"], top.fused, atol=1e-6)
        assert torch.allclose(gates[f"top_{LETTER[m3]}"], top.gates, atol=1e-6)
        middle = model.middle_fgmu[m3]([tokens[l1a], tokens[l1b]])
        assert torch.allclose(tokens[f"H'_{LETTER[m3]}"], top.fused + middle.fused, atol=1e-6)  # eq. 27
        assert torch.allclose(gates[f"middle_{LETTER[m3]}"], middle.gates, atol=1e-6)


@torch.no_grad()
def test_no_rc_fuses_the_bare_level2_tokens():
    _, model, _, _, _, tokens = run("bpmult_no_rc")
    for m3 in PAIRS:
        _, _, l2a, l2b = names(m3)
        assert torch.allclose(tokens[f"H_{LETTER[m3]}"], model.top_fgmu[m3]([tokens[l2a], tokens[l2b]]).fused, atol=1e-6)


@torch.no_grad()
def test_no_fgmu_middle_keeps_h():
    _, _, _, _, _, tokens = run("bpmult_no_fgmu_middle")
    for m in "LVA":
        assert torch.equal(tokens[f"H'_{m}"], tokens[f"H_{m}"])


@torch.no_grad()
def test_final_gmu_eq_23_and_residual_block_eq_24():
    cfg, model, _, logits, gates, tokens = run("bpmult")
    inputs = [tokens["H'_L"], tokens["H'_V"], tokens["H'_A"], tokens["H_P"], tokens["E_poster"]]
    out = model.final_gmu(inputs)
    assert torch.allclose(gates["final"], out.gates, atol=1e-6)
    assert out.fused.shape == (BATCH, cfg.n_outputs)  # paper: the GMU outputs c
    for i, name in enumerate(model.final_inputs):
        assert torch.allclose(tokens[f"gmu_part_{name}"], out.parts[:, i], atol=1e-6)
    o = out.fused
    block = model.head  # O_f = W_f1 drop(ReLU(W_f2 O)) + O
    expected = torch.relu(o @ block.proj1.weight.T + block.proj1.bias) @ block.proj2.weight.T + block.proj2.bias + o
    assert torch.allclose(logits, expected, atol=1e-6)


@torch.no_grad()
def test_hidden_final_gmu_uses_mult_head():
    cfg, model, _, logits, gates, tokens = run("bpmult", final_gmu_out="hidden")
    assert gates["final"].shape == (BATCH, 5, cfg.d_model)
    fused = sum(tokens[f"gmu_part_{n}"] for n in model.final_inputs)
    assert torch.allclose(logits, model.head.out_layer(model.head.residual(fused)), atol=1e-6)


@torch.no_grad()
@pytest.mark.parametrize("variant,residual", [("bpmult_no_fgmu", True), ("bpmult_no_fgmu_nor_rc", False)])
def test_no_fgmu_sends_level2_tokens_to_the_final_gmu(variant, residual):
    _, model, _, logits, _, tokens = run(variant)
    inputs = []
    for m3 in PAIRS:
        l1a, l1b, l2a, l2b = names(m3)
        inputs += [tokens[l2a] + tokens[l1a], tokens[l2b] + tokens[l1b]] if residual else [tokens[l2a], tokens[l2b]]
    inputs += [tokens["H_P"], tokens["E_poster"]]
    assert torch.allclose(logits, model.head(model.final_gmu(inputs).fused), atol=1e-6)


@torch.no_grad()
def test_all_transformers_sends_the_12_raw_tokens():
    _, model, _, logits, _, tokens = run("bpmult_all_transformers")
    inputs = [tokens[name] for name in model.final_inputs[:12]] + [tokens["E_poster"]]
    assert len(set(model.final_inputs[:12])) == 12
    assert torch.allclose(logits, model.head(model.final_gmu(inputs).fused), atol=1e-6)


@torch.no_grad()
def test_with_transformer_encodes_the_concatenated_biprojections():
    cfg, model, batch, _, _, tokens = run("bpmult_with_transformer")
    x = model.inputs(batch)
    z1 = model.crossmodal(x)
    m1, m2 = PAIRS["text"]
    bi1 = model.biprojection[f"{m1}_to_{m2}_to_text"](x["text"], z1[(m1, m2)])
    bi2 = model.biprojection[f"{m2}_to_{m1}_to_text"](x["text"], z1[(m2, m1)])
    h = model.top_transformer["text"](torch.cat([bi1, bi2], dim=-1))
    assert len(model.top_transformer["text"].layers) == cfg.memory_layers == 3
    assert torch.allclose(tokens["H_L"], h[:, -1], atol=1e-6)


@torch.no_grad()
def test_parallel_branch_eq_13_to_22():
    cfg, model, batch, _, gates, tokens = run("bpmult")
    x = model.inputs(batch)
    branch = model.parallel
    assert isinstance(branch.fusion, ExtendedFusionGMU)
    assert len(branch.encoders["text"].layers) == 3  # paper depth
    for m, letter in LETTER.items():
        assert branch.time_reduction[m].weight.shape == (cfg.parallel_len, cfg.model_lengths[m])  # W_m: 32 x S_M
        reduced = branch.time_reduction[m].weight @ x[m]  # lengths equal S_M here
        assert torch.allclose(tokens[f"parallel_{letter}"], branch.encoders[m](reduced)[:, -1], atol=1e-6)
    fused = branch.fusion([tokens["parallel_L"], tokens["parallel_V"], tokens["parallel_A"]])
    assert torch.allclose(tokens["H_P"], fused.fused, atol=1e-6)
    assert torch.allclose(gates["parallel"], fused.gates, atol=1e-6)


def test_parallel_branch_code_choices():
    cfg = tiny_config("bpmult", parallel_fusion="gmu", parallel_layers=None, layers=4)
    model = build_model(cfg)
    assert type(model.parallel.fusion) is GMU
    assert len(model.parallel.encoders["video"].layers) == 4  # max(layers, 3)


@torch.no_grad()
def test_token_rules():
    cfg, model, batch, _, _, tokens = run("bpmult", text_first_token_is_cls=True)
    x = model.inputs(batch)
    into_text = model.crossmodal["audio_to_text"](x["text"], x["audio"])
    into_video = model.crossmodal["audio_to_video"](x["video"], x["audio"])
    assert torch.allclose(tokens["A->L"], into_text[:, 0], atol=1e-6)  # [CLS] step for text time
    assert torch.allclose(tokens["A->V"], into_video[:, -1], atol=1e-6)
    for token, expect_text, expect_video in [
        ("last", into_text[:, -1], into_video[:, -1]),
        ("first_plus_last", into_text[:, 0] + into_text[:, -1], into_video[:, 0] + into_video[:, -1]),
    ]:
        c = tiny_config("bpmult", text_first_token_is_cls=True, token=token)
        assert torch.allclose(take_token(into_text, time_of="text", cfg=c), expect_text)
        assert torch.allclose(take_token(into_video, time_of="video", cfg=c), expect_video)
    # without a [CLS] text encoder the paper's rule is the last step everywhere
    assert torch.equal(take_token(into_text, time_of="text", cfg=tiny_config("bpmult")), into_text[:, -1])


@torch.no_grad()
def test_sequence_mode_residuals_over_time_then_token():
    cfg, model, batch, _, gates, tokens = run("bpmult", level1_residual_mode="sequence", token="first_plus_last")
    assert set(model.time_adapters) == {
        "audio_time_to_text", "video_time_to_text", "audio_time_to_video",
        "text_time_to_video", "video_time_to_audio", "text_time_to_audio",
    }
    x = model.inputs(batch)
    z1 = model.crossmodal(x)
    m1, m2 = PAIRS["text"]
    bi1 = model.biprojection[f"{m1}_to_{m2}_to_text"](x["text"], z1[(m1, m2)])
    bi2 = model.biprojection[f"{m2}_to_{m1}_to_text"](x["text"], z1[(m2, m1)])
    t1 = model.time_adapters[f"{m2}_time_to_text"](z1[(m1, m2)].transpose(1, 2)).transpose(1, 2)  # (B, S_L, d)
    t2 = model.time_adapters[f"{m1}_time_to_text"](z1[(m2, m1)].transpose(1, 2)).transpose(1, 2)
    top = model.top_fgmu["text"]([bi1 + t1, bi2 + t2])
    h = top.fused + model.middle_fgmu["text"]([t1, t2]).fused
    assert torch.allclose(tokens["H'_L"], h[:, 0] + h[:, -1], atol=1e-5)
    assert torch.allclose(gates["top_L"], 0.5 * (top.gates[:, 0] + top.gates[:, -1]), atol=1e-6)


def test_translating_layers_and_weight_sharing():
    paper = build_model(tiny_config("bpmult_translating"))
    code = build_model(tiny_config("bpmult_translating", translating_shared_weights=True, translating_query_norm=False))
    for model in (paper, code):
        assert all(isinstance(layer, TranslatingLayer) for enc in model.biprojection.values() for layer in enc.layers)
        assert all(isinstance(layer, TransformerEncoderLayer) for enc in model.crossmodal.values() for layer in enc.layers)
    assert hasattr(paper.biprojection["audio_to_video_to_text"].layers[0], "query_self_attn")
    assert not hasattr(code.biprojection["audio_to_video_to_text"].layers[0], "query_self_attn")
    assert sum(p.numel() for p in paper.parameters()) > sum(p.numel() for p in code.parameters())


def test_audio_encoder_and_lengths_of_the_parallel_branch():
    cfg = tiny_config(
        "bpmult", audio_encoder=True, audio_encoder_kernel=3, audio_encoder_stride=2, audio_encoder_len=4, len_audio=11,
    )
    model = build_model(cfg)
    assert model.parallel.time_reduction["audio"].weight.shape == (cfg.parallel_len, 4)  # S_A after the encoder
    batch = tiny_batch(cfg, lengths={"text": 7, "video": 5, "audio": 11})
    logits = model(batch)
    assert logits.shape == (BATCH, 3)
    logits.sum().backward()
    assert model.inputs.audio_encoder.conv_layers[0].weight.grad is not None


@torch.no_grad()
def test_other_input_lengths_are_fitted_in_the_parallel_branch():
    cfg, model, _, _, _, _ = run("bpmult")
    batch = tiny_batch(cfg, lengths={"text": 9, "video": 3, "audio": 4})
    assert model(batch).shape == (BATCH, 3)
