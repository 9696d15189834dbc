"""The data commands of the console script, and DataConfig."""

from __future__ import annotations

import dataclasses

import pytest

from bpmult import cli
from bpmult.data import DataConfig, load_prepared, read_manifest


def test_synth_then_prepare_through_the_cli(tmp_path, capsys):
    assert cli.main(["synth", "iemocap_unaligned", "--out", str(tmp_path / "raw"), "--size", "9", "--seed", "2"]) == 0
    assert cli.main(["prepare", "iemocap_unaligned", "--raw", str(tmp_path / "raw"),
                     "--out", str(tmp_path / "prepared")]) == 0
    out = capsys.readouterr().out
    assert "prepared iemocap_unaligned (synthetic)" in out and "video (50, 35)" in out
    assert read_manifest(tmp_path / "prepared")["synthetic_generator"]["seed"] == 2
    assert len(load_prepared(tmp_path / "prepared", "test")) > 0


def test_cli_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert cli.main(["prepare", "mosei", "--raw", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "train_split.txt" in err and "bpmult fetch mosei" in err
    assert cli.main(["prepare", "mosei", "--raw", str(tmp_path), "--out", str(tmp_path / "o"),
                     "--set", "nonsense=1"]) == 2
    assert "--set 'nonsense=1'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_data_config_is_frozen_documented_and_validated():
    config = DataConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.mmimdb_bow_vocab = 5  # type: ignore[misc]
    assert config.mmimdb_bow_vocab == 512 and config.text_encoder == "minilm"  # the authors' length (issue 9)
    for field in dataclasses.fields(DataConfig):
        assert field.name in DataConfig.__doc__
    changed = config.with_overrides(["mmimdb_bow_vocab=128", "moviescope_mel_steps=null", "mosei_allow_unmatched=true",
                                     "mmimdb_glove_file=glove.840B.300d.txt"])
    assert (changed.mmimdb_bow_vocab, changed.moviescope_mel_steps, changed.mosei_allow_unmatched,
            changed.mmimdb_glove_file) == (128, None, True, "glove.840B.300d.txt")
    for bad in ("mmimdb_bow_vocab=0", "mmimdb_bow_vocab=many", "text_encoder=gpt", "moviescope_metadata=1",
                "moviescope_demo_dev=10"):
        with pytest.raises(ValueError):
            config.with_overrides([bad])
