"""Issue 9, data layer: hand-placed folder trees through symlinks, every data setting from the
pipeline's params, the Moviescope batch crop and BERT token ids."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from bpmult.atomic import copy_tree, folder_digest, link_tree
from bpmult.data import DataConfig, collate, load_prepared, make_collate, prepare, read_manifest
from bpmult.data.fetch import fetch_sources
from bpmult.data.moviescope import FETCH as MOVIESCOPE_FETCH

# ---------------------------------------------------------------------------------------------
# (1) folder trees placed through symlinks


def _tree(tmp_path):
    real = tmp_path / "disk2" / "features"
    (real / "nested").mkdir(parents=True)
    (real / "1.p").write_bytes(b"one")
    (real / "nested" / "2.p").write_bytes(b"two")
    placed = tmp_path / "placed"
    placed.mkdir()
    os.symlink(real, placed / "features")  # a folder placed as a link (e.g. to another disk)
    os.symlink(placed, real / "nested" / "loop")  # a link loop must not hang the walk
    (placed / "meta.txt").write_text("meta")
    return real, placed


@pytest.mark.parametrize("copy", [copy_tree, link_tree], ids=["copy_tree", "link_tree"])
def test_tree_copies_follow_directory_symlinks(copy, tmp_path):
    real, placed = _tree(tmp_path)
    out = tmp_path / "raw"
    count = copy(placed, out)
    assert (out / "features" / "1.p").read_bytes() == b"one"
    assert (out / "features" / "nested" / "2.p").read_bytes() == b"two"
    assert (out / "meta.txt").read_text() == "meta" and count == 3
    assert not (out / "features").is_symlink()
    assert len([p for p in placed.rglob("*") if p.is_file()]) == 1  # what Path.rglob sees on Python 3.11


def test_folder_digest_is_the_same_through_a_link(tmp_path):
    real, placed = _tree(tmp_path)
    shutil.rmtree(real / "nested" / "loop", ignore_errors=True)
    (real / "nested" / "loop").unlink(missing_ok=True)
    copy = tmp_path / "copy"
    shutil.copytree(real, copy)
    assert folder_digest(placed / "features") == folder_digest(copy)


def test_hand_placed_moviescope_trees_reach_the_raw_folder_and_prepare(synthetic_raw, fake_encoder, tmp_path):
    """The user's layout: data/manual/moviescope/<folder> are links to the real trees; fetch links
    them into data/downloads; the raw stage mirrors downloads into data/raw (link_tree)."""
    source = synthetic_raw("moviescope")
    store = tmp_path / "store"
    shutil.copytree(source, store)
    manual = tmp_path / "manual" / "moviescope"
    manual.mkdir(parents=True)
    for entry in store.iterdir():
        if entry.name != "SYNTHETIC.json":
            os.symlink(entry, manual / entry.name)
    downloads = tmp_path / "downloads"
    fetch_sources("moviescope", MOVIESCOPE_FETCH["moviescope"], out=downloads, manual=tmp_path / "manual", lock={},
                  progress=False)
    raw = tmp_path / "raw" / "moviescope"
    link_tree(downloads / "moviescope", raw)
    assert {p.name for p in (raw / "200F_VGG16").iterdir()} == {p.name for p in (source / "200F_VGG16").iterdir()}
    config = DataConfig().replace(moviescope_frames=20, moviescope_text_len=96)
    manifest = prepare("moviescope", raw, tmp_path / "prepared", config=config, encoder=fake_encoder, cache_dir=None)
    expected = prepare("moviescope", source, tmp_path / "expected", config=config, encoder=fake_encoder,
                       cache_dir=None)
    assert manifest["splits"] == expected["splits"] and "metadata" in manifest["modalities"]
    for split in ("train", "dev", "test"):
        for name in ("video", "audio", "poster", "label"):
            np.testing.assert_array_equal(np.load(tmp_path / "prepared" / split / f"{name}.npy"),
                                          np.load(tmp_path / "expected" / split / f"{name}.npy"))


# ---------------------------------------------------------------------------------------------
# (2) every data setting from the params, validated with the params path


def test_from_mapping_takes_every_field_and_skips_the_raw_stage_keys():
    config = DataConfig.from_mapping({"text_encoder": "bert-base-uncased", "mosei_allow_unmatched": True,
                                      "mmimdb_bow_vocab": 10000, "mmimdb_min_glove_coverage": 1,
                                      "moviescope_audio_crop": "pad_longest", "text_features": "token_ids",
                                      "synth_size": {"mosei": 4}, "raw_folder": {"moviescope": "x"}},
                                     where="paper.data")
    assert (config.text_encoder, config.mosei_allow_unmatched, config.mmimdb_bow_vocab) == (
        "bert-base-uncased", True, 10000)
    assert config.mmimdb_min_glove_coverage == 1.0 and isinstance(config.mmimdb_min_glove_coverage, float)
    assert (config.moviescope_audio_crop, config.text_features) == ("pad_longest", "token_ids")
    base = DataConfig().replace(mosei_text_len=32)
    assert DataConfig.from_mapping({}, base=base) == base


@pytest.mark.parametrize("mapping,message", [
    ({"mosei_allow_unmatched": "yes"}, "paper.data.mosei_allow_unmatched: expected bool, found 'yes'"),
    ({"mmimdb_bow_vocab": 0}, "paper.data.mmimdb_bow_vocab: expected a positive integer, found 0"),
    ({"mmimdb_bow_vocab": 1.5}, "paper.data.mmimdb_bow_vocab: expected int, found 1.5"),
    ({"mmimdb_min_glove_coverage": 2}, "paper.data.mmimdb_min_glove_coverage: expected a share between 0 and 1"),
    ({"moviescope_audio_crop": "shortest"}, "paper.data.moviescope_audio_crop: expected one of"),
    ({"text_features": "ids"}, "paper.data.text_features: expected one of"),
    ({"mosei_alow_unmatched": True}, "paper.data.mosei_alow_unmatched: unknown data setting"),
    ({"moviescope_demo_dev": 100}, "paper.data.moviescope_demo_dev: expected > moviescope_demo_train"),
    (["mosei_allow_unmatched"], "paper.data: expected a mapping"),
])
def test_from_mapping_errors_name_the_params_path(mapping, message):
    with pytest.raises(ValueError) as caught:
        DataConfig.from_mapping(mapping, where="paper.data")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_mosei_allow_unmatched_from_the_params_reaches_prepare(raw_copy, fake_encoder, tmp_path):
    import pickle

    from bpmult.data import UnknownIdError, mosei

    raw = raw_copy("mosei")
    path = raw / mosei.SPLIT_FILES["train"]
    path.write_text(path.read_text() + "nosuchvideo_3\n")
    meta_path = raw / mosei.META
    meta = pickle.loads(meta_path.read_bytes())
    meta["nosuchvideo_3"] = {"text": "hello", "label": [0, 0, 0, 1, 0, 0]}
    meta_path.write_bytes(pickle.dumps(meta, protocol=3))
    with pytest.raises(UnknownIdError, match="mosei_allow_unmatched"):
        prepare("mosei", raw, tmp_path / "a", encoder=fake_encoder, cache_dir=None)
    marker = json.loads((raw / "SYNTHETIC.json").read_text())["data_config"]
    config = DataConfig.from_mapping({"mosei_allow_unmatched": True}, base=DataConfig().replace(**marker))
    manifest = prepare("mosei", raw, tmp_path / "b", config=config, encoder=fake_encoder, cache_dir=None)
    assert manifest["notes"]["dropped_unmatched"]["train"] == 1


# ---------------------------------------------------------------------------------------------
# (3) MM-IMDb bag-of-words length


@pytest.mark.parametrize("steps", [512, 40])
def test_mmimdb_bag_of_words_has_the_configured_length(synthetic_raw, fake_encoder, tmp_path, steps):
    assert DataConfig().mmimdb_bow_vocab == 512  # the authors' value; 10000 is the paper's literal reading
    marker = json.loads((synthetic_raw("mmimdb") / "SYNTHETIC.json").read_text())["data_config"]
    config = DataConfig().replace(**{**marker, "mmimdb_bow_vocab": steps})
    manifest = prepare("mmimdb", synthetic_raw("mmimdb"), tmp_path / "p", config=config, encoder=fake_encoder,
                       cache_dir=None)
    assert manifest["modalities"]["audio"] == [steps, 1]
    vocabulary = json.loads((tmp_path / "p" / "bow_vocabulary.json").read_text())
    assert len(vocabulary) == min(steps, len(vocabulary)) and len(vocabulary) <= steps


# ---------------------------------------------------------------------------------------------
# (4) Moviescope spectrograms: true lengths stored, batches cropped to their shortest


def test_moviescope_stores_true_audio_lengths_and_crops_batches(synthetic_raw, fake_encoder, tmp_path):
    raw = synthetic_raw("moviescope")
    marker = json.loads((raw / "SYNTHETIC.json").read_text())["data_config"]
    assert marker["moviescope_audio_crop"] == "pad_longest"  # the embedded default keeps its behaviour
    config = DataConfig().replace(**{**marker, "moviescope_audio_crop": "batch_shortest"})
    manifest = prepare("moviescope", raw, tmp_path / "p", config=config, encoder=fake_encoder, cache_dir=None)
    assert manifest["lengths"] == {"audio": "audio_length"} and manifest["dtypes"]["audio_length"] == "int64"
    data = load_prepared(tmp_path / "p", "train")
    lengths = np.asarray(data.arrays["audio_length"])
    padded = manifest["modalities"]["audio"][0]
    longest = max(int(np.asarray(load_prepared(tmp_path / "p", s).arrays["audio_length"]).max())
                  for s in ("train", "dev", "test"))
    assert longest == padded and lengths.min() < padded  # trailers differ; the longest sets the padding
    for i in range(len(data)):  # the true length is where the zero padding starts
        audio = np.asarray(data.arrays["audio"][i])
        assert np.abs(audio[: lengths[i]]).sum(axis=1).min() > 0 and not audio[lengths[i]:].any()
    items = [data[i] for i in range(4)]
    cropped = make_collate(read_manifest(tmp_path / "p"))(items)  # the manifest's rule: batch_shortest
    shortest = int(min(lengths[:4]))
    assert cropped["audio"].shape == (4, shortest, 96)
    torch.testing.assert_close(cropped["audio"], collate(items)["audio"][:, :shortest])
    padded_batch = make_collate(manifest, "pad_longest")(items)
    assert padded_batch["audio"].shape == (4, padded, 96)
    torch.testing.assert_close(padded_batch["video"], collate(items)["video"])
    with pytest.raises(ValueError, match="expected one of"):
        make_collate(manifest, "shortest")


def test_a_length_beyond_the_padding_is_refused_when_loaded(synthetic_raw, fake_encoder, tmp_path):
    prepare("moviescope", synthetic_raw("moviescope"), tmp_path / "p", encoder=fake_encoder, cache_dir=None)
    path = tmp_path / "p" / "dev" / "audio_length.npy"
    lengths = np.load(path)
    lengths[0] = 10_000
    np.save(path, lengths)
    with pytest.raises(ValueError, match=r"dev/audio_length.npy.*audio_length\[0\].*values in \[1, "):
        load_prepared(tmp_path / "p", "dev")


# ---------------------------------------------------------------------------------------------
# (5) BERT token ids for fine-tuning (issue 10)


@pytest.fixture
def tiny_bert_cache(tmp_path_factory, monkeypatch):
    """A random 2-layer, 16-d BERT and its word-piece tokenizer saved as bert-base-uncased in a
    Hugging Face cache (models--bert-base-uncased/snapshots/<commit>), so no download is needed."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from bpmult.data.synthetic import CHARACTER_NAMES, GENRE_WORDS

    cache = tmp_path_factory.mktemp("hf") / "hub"
    commit = "0" * 40
    snapshot = cache / "models--bert-base-uncased" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (cache / "models--bert-base-uncased" / "refs").mkdir()
    (cache / "models--bert-base-uncased" / "refs" / "main").write_text(commit)
    words = sorted({w.lower() for ws in GENRE_WORDS.values() for w in ws} | {n.lower() for n in CHARACTER_NAMES}
                   | set("the a of and to in is with his her from has one last".split()))
    (tmp_path_factory.getbasetemp() / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *"abcdefghijklmnopqrstuvwxyz.,'"]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(tmp_path_factory.getbasetemp() / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(snapshot)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=128)).save_pretrained(snapshot)
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return snapshot, tokenizer


def test_token_ids_instead_of_features(synthetic_raw, tiny_bert_cache, tmp_path):
    snapshot, tokenizer = tiny_bert_cache
    raw = synthetic_raw("moviescope")
    manifest = prepare("moviescope", raw, tmp_path / "ids", cache_dir=None,
                       overrides=["text_encoder=bert-base-uncased", "text_features=token_ids"])
    assert "text" not in manifest["modalities"]
    assert manifest["modalities"]["text_ids"] == [96] and manifest["modalities"]["text_mask"] == [96]
    assert manifest["dtypes"]["text_ids"] == "int64" and manifest["text_encoder"]["features"] == "token_ids"
    assert manifest["text_encoder"]["vocab_size"] == len(tokenizer)
    assert manifest["text_encoder"]["name"] == "bert-base-uncased"
    data = load_prepared(tmp_path / "ids", "train")
    item = data[0]
    assert item["text_ids"].dtype == torch.int64 and item["text_mask"].dtype == torch.int64
    records = [json.loads(line) for line in (raw / "train.jsonl").read_text().splitlines()]
    first = next(r for r in records if r["id"] == data.ids[0])
    pieces = [tokenizer.cls_token_id, *tokenizer(first["synopsis"], add_special_tokens=False)["input_ids"]][:96]
    assert item["text_ids"][: len(pieces)].tolist() == pieces  # [CLS] + word pieces, no [SEP]
    assert item["text_mask"].tolist() == [1] * len(pieces) + [0] * (96 - len(pieces))
    assert not item["text_ids"][len(pieces):].any()  # [PAD] is id 0
    features = prepare("moviescope", raw, tmp_path / "features", cache_dir=None,
                       overrides=["text_encoder=bert-base-uncased"])
    assert features["modalities"]["text"] == [96, 16] and "text_ids" not in features["modalities"]


def test_resolve_config_applies_the_profile_data_section_on_the_synthetic_lengths(synthetic_raw):
    from bpmult.data.registry import resolve_config

    raw = synthetic_raw("mosei")
    config, marker = resolve_config(raw, params={"text_encoder": "minilm", "mosei_allow_unmatched": True,
                                                 "synth_size": {"mosei": 240}}, where="embedded.data")
    assert config.mosei_allow_unmatched is True and config.mosei_text_len == marker["data_config"]["mosei_text_len"]
    with pytest.raises(ValueError, match=r"^embedded\.data\.mosei_text_len: expected a positive integer, found -1$"):
        resolve_config(raw, params={"mosei_text_len": -1}, where="embedded.data")


def test_link_tree_leaves_out_unfinished_downloads_and_staging_folders(tmp_path):
    from bpmult.data.fetch import is_partial

    src = tmp_path / "downloads" / "mmimdb"
    (src / ".bpmult-staging-mmimdb.tar.gz.unpack.999999999.abcd").mkdir(parents=True)
    (src / ".bpmult-staging-mmimdb.tar.gz.unpack.999999999.abcd" / "half.json").write_text("{")
    for name in ("glove.6B.zip.part", "multimodal_imdb.hdf5.unverified", ".glove.6B.zip.extracted", "split.json"):
        (src / name).write_text("x")
    assert link_tree(src, tmp_path / "raw", exclude=is_partial) == 1
    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["split.json"]
