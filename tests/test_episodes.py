"""RunningEpisodes: recording a [T, N] block at once equals stepping through it by a plain loop;
EpisodeStatistics keeps a window of finished episodes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pgkit.data import Episode, EpisodeStatistics, RunningEpisodes


def _plain_loop(running: RunningEpisodes, rewards: np.ndarray, dones: np.ndarray) -> tuple[list, np.ndarray, np.ndarray]:
    """The definition: add each step's reward; an episode ends at a done and the next starts from 0."""
    returns, lengths, finished = running.returns.copy(), running.lengths.copy(), []
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
    running = RunningEpisodes(num_envs=4)
    for _ in range(3):  # episodes carry over between blocks
        rewards, dones = rng.normal(size=(17, 4)), rng.random((17, 4)) < 0.2
        expected, returns, lengths = _plain_loop(running, rewards, dones)
        got = sorted((e.length, e.ret) for e in running.record(rewards, dones))
        expected = sorted((int(length), float(ret)) for ret, length in expected)
        assert [length for length, _ in got] == [length for length, _ in expected]
        assert [ret for _, ret in got] == pytest.approx([ret for _, ret in expected])
        np.testing.assert_allclose(running.returns, returns)
        np.testing.assert_array_equal(running.lengths, lengths)


def test_one_step_at_a_time():
    running = RunningEpisodes(num_envs=2)
    first = running.record(np.array([[1.0, 2.0]]), np.array([[False, True]]))
    second = running.record(np.array([[1.0, 2.0]]), np.array([[True, False]]))
    assert [(e.ret, e.length) for e in first + second] == [(2.0, 1), (2.0, 2)]


def test_statistics_keep_a_window():
    statistics = EpisodeStatistics(window=2)
    assert math.isnan(statistics.metrics()["return_mean"])
    statistics.extend([Episode(1.0, 10), Episode(3.0, 20), Episode(5.0, 30)])
    assert statistics.metrics() == {"episodes": 3.0, "return_mean": 4.0, "length_mean": 25.0}
    restored = EpisodeStatistics(window=2)
    restored.load_state_dict(statistics.state_dict())
    assert restored.metrics() == statistics.metrics()
