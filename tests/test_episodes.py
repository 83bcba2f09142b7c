"""EpisodeTracker: recording a [T, N] block at once equals stepping through it, by a plain loop."""

from __future__ import annotations

import numpy as np
import pytest

from pgkit.data.episodes import EpisodeTracker


def _plain_loop(tracker: EpisodeTracker, rewards: np.ndarray, dones: np.ndarray) -> tuple[list, np.ndarray, np.ndarray]:
    """The definition: add each step's reward; an episode ends at a done and the next starts from 0."""
    returns, lengths, finished = tracker.returns.copy(), tracker.lengths.copy(), []
    for t in range(len(rewards)):
        returns += rewards[t]
        lengths += 1
        for i in range(rewards.shape[1]):
            if dones[t, i]:
                finished.append((returns[i], lengths[i]))
                returns[i], lengths[i] = 0.0, 0
    return finished, returns, lengths


@pytest.mark.parametrize("seed", range(5))
def test_record_matches_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    tracker = EpisodeTracker(num_envs=4, window=1000)
    for _ in range(3):  # episodes carry over between blocks
        rewards, dones = rng.normal(size=(17, 4)), rng.random((17, 4)) < 0.2
        expected, returns, lengths = _plain_loop(tracker, rewards, dones)
        before = len(tracker.finished)
        tracker.record(rewards, dones)
        got = sorted((e.length, e.ret) for e in list(tracker.finished)[before:])
        expected = sorted((int(length), float(ret)) for ret, length in expected)
        assert [length for length, _ in got] == [length for length, _ in expected]
        assert [ret for _, ret in got] == pytest.approx([ret for _, ret in expected])
        np.testing.assert_allclose(tracker.returns, returns)
        np.testing.assert_array_equal(tracker.lengths, lengths)


def test_step_is_a_one_step_record():
    tracker = EpisodeTracker(num_envs=2)
    tracker.step(np.array([1.0, 2.0]), np.array([False, True]))
    tracker.step(np.array([1.0, 2.0]), np.array([True, False]))
    assert [(e.ret, e.length) for e in tracker.finished] == [(2.0, 1), (2.0, 2)]
    assert tracker.metrics()["return_mean"] == 2.0 and tracker.total == 2
