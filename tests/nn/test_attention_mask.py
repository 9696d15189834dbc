"""MuLT's attention mask: allowed = ones(Lq, Lk).tril(|Lk - Lq|), checked against the official rule."""

import pytest
import torch

from bpmult.nn.masks import allowed_positions, masks_nothing


def official_allowed(lq: int, lk: int) -> torch.Tensor:
    # official buffered_future_mask: -inf where j - i >= 1 + |Lk - Lq|
    i = torch.arange(lq)[:, None]
    j = torch.arange(lk)[None, :]
    return (j - i) < 1 + abs(lk - lq)


def test_square_is_causal():
    expected = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    assert torch.equal(allowed_positions(3, 3), expected)


def test_shorter_query_is_lower_right_causal():
    # Lq=2 < Lk=4: row 0 sees 3 keys, the last row sees all
    expected = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(allowed_positions(2, 4), expected)


def test_longer_query_uses_tril_of_the_difference():
    # Lq=5 > Lk=4: tril(1); neither upper-left nor lower-right causal
    expected = torch.tensor(
        [[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]], dtype=torch.bool
    )
    assert torch.equal(allowed_positions(5, 4), expected)


def test_much_longer_query_masks_nothing():
    assert bool(allowed_positions(7, 3).all())
    assert masks_nothing(7, 3)


@pytest.mark.parametrize("lq", range(1, 9))
@pytest.mark.parametrize("lk", range(1, 9))
def test_matches_official_rule_and_no_row_is_empty(lq, lk):
    allowed = allowed_positions(lq, lk)
    assert torch.equal(allowed, official_allowed(lq, lk))
    assert bool(allowed.any(dim=1).all())
    assert masks_nothing(lq, lk) == bool(allowed.all())
