"""Keyed dropout: a function of (key, global ids) only, with the right keep rate."""

from __future__ import annotations

import torch

from pargnn.ops.dropout import (
    dropout_key,
    keyed_dropout,
    keyed_uniform_bits,
    reference_uniform_bits,
)


def test_mask_does_not_depend_on_layout() -> None:
    key = dropout_key(seed=3, epoch=7, layer=1)
    rows, cols = torch.arange(100), torch.arange(12)
    full = keyed_uniform_bits(key, rows, cols)
    perm = torch.randperm(100)
    part = keyed_uniform_bits(key, rows[perm][:40], cols[5:9])
    torch.testing.assert_close(part, full[perm][:40][:, 5:9])


def test_keys_differ_by_seed_epoch_layer() -> None:
    keys = {dropout_key(s, e, layer) for s in range(3) for e in range(3) for layer in range(3)}
    assert len(keys) == 27


def test_keep_rate_and_scaling() -> None:
    h = torch.ones(2000, 64, dtype=torch.float64)
    out = keyed_dropout(h, 0.3, dropout_key(0, 0, 0), torch.arange(2000), torch.arange(64))
    kept = (out != 0).double().mean().item()
    assert abs(kept - 0.7) < 0.01
    torch.testing.assert_close(out[out != 0], torch.full_like(out[out != 0], 1 / 0.7))


def test_rows_and_columns_are_not_correlated() -> None:
    bits = keyed_uniform_bits(dropout_key(1, 2, 3), torch.arange(3000), torch.arange(32))
    u = bits.double() / 2**23
    assert abs(u.mean().item()) < 0.01
    corr_cols = torch.corrcoef(u.T)
    off_diagonal = corr_cols - torch.eye(32, dtype=torch.float64)
    assert off_diagonal.abs().max().item() < 0.1


def test_zero_probability_is_identity() -> None:
    h = torch.randn(5, 3)
    assert keyed_dropout(h, 0.0, 1, torch.arange(5), torch.arange(3)) is h


def test_tensor_hash_equals_its_integer_definition() -> None:
    key = dropout_key(seed=11, epoch=5, layer=2)
    rows = torch.tensor([0, 1, 7, 2**20 + 3, 2**31 + 5])
    cols = torch.tensor([0, 3, 127, 4095])
    bits = keyed_uniform_bits(key, rows, cols)
    for i, r in enumerate(rows.tolist()):
        for j, c in enumerate(cols.tolist()):
            assert int(bits[i, j]) == reference_uniform_bits(key, r, c)


def test_dropout_gradient_uses_the_same_mask() -> None:
    h = torch.randn(50, 8, dtype=torch.float64, requires_grad=True)
    rows, cols = torch.arange(50), torch.arange(8)
    out = keyed_dropout(h, 0.4, 123, rows, cols)
    out.sum().backward()
    assert h.grad is not None
    torch.testing.assert_close(h.grad, (out.detach() != 0).double() / 0.6)
