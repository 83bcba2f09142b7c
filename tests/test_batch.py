"""Batch: flattening and shuffled minibatches."""

from __future__ import annotations

import torch

from pgkit.testing import synthetic_batch


def test_minibatches_partition_the_rows_in_a_seeded_order():
    batch = synthetic_batch(seed=0).flatten()
    total = batch.rewards.shape[0]
    parts = list(batch.minibatches(7, torch.Generator().manual_seed(3)))
    assert [p.rewards.shape[0] for p in parts] == [7] * (total // 7) + ([total % 7] if total % 7 else [])
    order = torch.randperm(total, generator=torch.Generator().manual_seed(3))
    for name in ("obs", "actions", "rewards", "terminated"):
        assert torch.equal(torch.cat([getattr(p, name) for p in parts]), getattr(batch, name)[order])


def test_no_minibatch_size_yields_the_whole_batch():
    batch = synthetic_batch(seed=0).flatten()
    (only,) = batch.minibatches(None)
    assert only is batch
