"""The text encoder inside the model: offline, with a tiny random BERT saved by save_pretrained."""

import pytest
import torch
from transformers import BertConfig, BertModel

from bpmult import cli  # noqa: F401  (the package imports cleanly with transformers present)
from bpmult.models import build_model, variant_config
from bpmult.models.text_encoder import ENCODER_PREFIX, split_param_groups, text_encoder_parameters

HIDDEN = 12
SHA = "0" * 40


def tiny_bert() -> BertModel:
    torch.manual_seed(0)
    return BertModel(BertConfig(
        vocab_size=40, hidden_size=HIDDEN, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
        max_position_embeddings=16, hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3,
    ))


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_bert")
    tiny_bert().save_pretrained(path)
    return path


def config(bert_dir, mode="finetune", variant="bpmult", **overrides):
    values = dict(
        text_encoder=str(bert_dir), text_encoder_mode=mode, orig_d_text=HIDDEN, orig_d_video=5,
        orig_d_audio=3, d_model=8, num_heads=2, layers=1, len_text=6, len_video=5, len_audio=4, n_classes=3,
        parallel_len=3, text_first_token_is_cls=True,
    )
    return variant_config(variant, **{**values, **overrides})


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 40, (2, 6), generator=g)
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[0, 4:] = 0  # sample 0 is padded
    ids[0, 4:] = 0
    return {"text_ids": ids, "text_mask": mask, "video": torch.randn(2, 5, 5, generator=g),
            "audio": torch.randn(2, 4, 3, generator=g)}


@pytest.mark.parametrize("variant", ["bpmult", "mult", "mult_gmu"])
def test_forward_reads_token_ids(bert_dir, variant):
    model = build_model(config(bert_dir, variant=variant))
    assert model(batch()).shape == (2, 3)


def test_finetune_trains_the_encoder(bert_dir):
    torch.manual_seed(1)
    model = build_model(config(bert_dir, "finetune")).train()
    encoder, other = split_param_groups(model)
    assert encoder and other and len(encoder) == len(list(model.inputs.text_encoder.parameters()))
    before = [p.detach().clone() for p in encoder]
    optimiser = torch.optim.Adam([{"params": encoder, "lr": 5e-2}, {"params": other, "lr": 1e-3}])
    model(batch()).sum().backward()
    assert all(p.grad is not None for p in encoder)
    optimiser.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, encoder))


def test_frozen_equals_precomputed_features(bert_dir):
    torch.manual_seed(2)
    frozen = build_model(config(bert_dir, "frozen")).train()  # train mode: the encoder stays in eval
    assert not list(text_encoder_parameters(frozen))
    assert all(not p.requires_grad for p in frozen.inputs.text_encoder.parameters())
    plain_cfg = config(bert_dir, "frozen", text_encoder=None)
    plain = build_model(plain_cfg).train()
    plain.load_state_dict({k: v for k, v in frozen.state_dict().items() if not k.startswith(ENCODER_PREFIX)})
    b = batch()
    reference = BertModel.from_pretrained(bert_dir).eval()  # the features as the data step makes them
    with torch.no_grad():
        features = reference(input_ids=b["text_ids"], attention_mask=b["text_mask"]).last_hidden_state
    features = features * b["text_mask"].unsqueeze(-1)
    assert (features[0, 4:] == 0).all()
    frozen.eval(), plain.eval()
    out_frozen = frozen(b)
    out_plain = plain({**{k: v for k, v in b.items() if not k.startswith("text_")}, "text": features})
    assert torch.allclose(out_frozen, out_plain, atol=1e-6, rtol=0)
    frozen.train()
    frozen(b).sum().backward()
    assert all(p.grad is None for p in frozen.inputs.text_encoder.parameters())
    assert not frozen.inputs.text_encoder.encoder.training


def test_no_encoder_means_an_empty_encoder_group():
    model = build_model(variant_config("bpmult", d_model=8, num_heads=2, layers=1, orig_d_text=6, orig_d_video=5,
                                       orig_d_audio=3, len_text=4, len_video=4, len_audio=4))
    encoder, other = split_param_groups(model)
    assert encoder == [] and len(other) == len(list(model.parameters()))


def test_loads_by_name_from_the_hugging_face_cache_layout(tmp_path, monkeypatch):
    import huggingface_hub.constants

    repo = tmp_path / "models--tiny--bert"
    tiny_bert().save_pretrained(repo / "snapshots" / SHA)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SHA)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    model = build_model(config("tiny/bert"))
    assert model(batch()).shape == (2, 3)


def test_errors_name_what_is_wrong(bert_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model folder nor in the local Hugging Face cache"):
        build_model(config(tmp_path / "absent"))
    with pytest.raises(ValueError, match="has hidden size 12, but orig_d_text is 768"):
        build_model(config(bert_dir, orig_d_text=768))
    model = build_model(config(bert_dir))
    with pytest.raises(KeyError, match="needs batch\\['text_mask'\\]"):
        model({k: v for k, v in batch().items() if k != "text_mask"})
    with pytest.raises(ValueError, match="takes no text_encoder"):
        variant_config("gmu", extras=(("poster", 4),), text_encoder="x")
