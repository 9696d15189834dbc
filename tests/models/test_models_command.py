"""``bpmult models``: every variant with its parameter count."""

import re

import pytest

import torch

from bpmult import cli
from bpmult.models import VARIANTS, build_model, count_parameters
from bpmult.models.presets import dataset_config



def test_models_lists_every_variant_with_its_count(capsys):
    assert cli.main(["models", "--dataset", "iemocap"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:] if line.split() and line.split()[0] in VARIANTS}
    assert set(rows) == set(VARIANTS)
    assert rows["gmu"] == "n/a"  # no extra vector on IEMOCAP
    with torch.device("meta"):
        expected = count_parameters(build_model(dataset_config("bpmult", "iemocap")))
    assert int(rows["bpmult"].replace(",", "")) == expected
    assert re.search(r"iemocap: d 300, 12 heads, 8 layers", out)
