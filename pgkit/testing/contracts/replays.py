"""The contract of the replay kind: what an off-policy trainer may rely on from any replay."""

from __future__ import annotations

import io
import math

import numpy as np
import torch

from pgkit.data import GoalLayout
from pgkit.kinds import Replay, ReplayLayout
from pgkit.kinds.capabilities import GOAL_OBSERVATIONS, SEQUENCES, TD_ERRORS
from pgkit.testing.contracts.common import assert_same, check_spec, instance

GAMMA = 0.9
NUM_ENVS, ROWS, CAPACITY = 3, 9, 18  # 27 transitions added, the newest 18 kept


def transition_stream(rows: int, num_envs: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    """Rows (obs, actions, rewards, next_obs, terminated, truncated) of N envs as a trainer adds them: each
    observation a distinct random pair, s' the next row's s except where an episode ends (about 1 step in 4,
    terminated or truncated alike), where s' is a final observation and the env starts again."""
    generator = torch.Generator().manual_seed(seed)
    obs, stream = torch.randn(num_envs, 2, generator=generator), []
    for _ in range(rows):
        ended = torch.rand(num_envs, generator=generator) < 0.25
        cut = ended & (torch.rand(num_envs, generator=generator) < 0.5)
        final, following = torch.randn(num_envs, 2, generator=generator), torch.randn(num_envs, 2, generator=generator)
        stream.append((obs, torch.randn(num_envs, 1, generator=generator), torch.randn(num_envs, generator=generator),
                       torch.where(ended[:, None], final, following), ended & ~cut, cut))
        obs = following
    return stream


def n_step_reference(stream: list[tuple[torch.Tensor, ...]], capacity: int, n_step: int, gamma: float) -> dict[tuple[float, float], tuple]:
    """For every transition a replay of ``capacity`` keeps, by a plain loop: (R, s_{t+k}, terminated, gamma^k),
    keyed by its observation."""
    kept = len(stream) - capacity // NUM_ENVS
    expected = {}
    for e in range(NUM_ENVS):
        for t in range(kept, len(stream)):
            ret, k = 0.0, 0
            while k < n_step and t + k < len(stream):
                _, _, reward, _, terminated, truncated = (part[e] for part in stream[t + k])
                ret += gamma**k * float(reward)
                k += 1
                if terminated or truncated:
                    break
            last = stream[t + k - 1]
            key = tuple(stream[t][0][e].tolist())
            expected[key] = (ret, last[3][e], bool(last[4][e]), gamma**k)
    return expected


def check_replay(replay: Replay | type[Replay], seed: int = 0) -> None:
    """Samples hold only stored transitions, whole (obs with its own action), as n-step returns that match
    a plain loop (rewards, next observation, termination, discount gamma^k; k cut at episode ends and the
    newest row), with finite importance weights in (0, 1] if any; ``len`` counts what is kept after wrapping
    around; a replay that requires ``td_errors`` draws a transition more often the larger its TD error, and
    at the end of training (beta = 1) its weighted draws are unbiased for the uniform mean; the state
    survives a checkpoint into a fresh replay, which then draws the same minibatches; one that provides
    ``sequences`` draws windows of an env's steps with their memory (``_check_sequences``). A replay that requires
    ``goal_observations`` is checked as a hindsight replay instead (``_check_hindsight``)."""
    replay = instance(replay)
    check_spec(replay)
    if GOAL_OBSERVATIONS in replay.requires:
        _check_hindsight(replay, seed)
        return
    layout = ReplayLayout(CAPACITY, (2,), torch.float32, (1,), torch.device("cpu"), NUM_ENVS, GAMMA)
    replay.allocate(layout)
    stream = transition_stream(ROWS, NUM_ENVS, seed)
    for row in stream:
        replay.add(*row)
    name = replay.name
    assert len(replay) == CAPACITY, f"{name}: holds {len(replay)} transitions after {ROWS * NUM_ENVS} were added to {CAPACITY} places"
    expected = n_step_reference(stream, CAPACITY, replay.spec.n_step, GAMMA)
    actions = {tuple(row[0][e].tolist()): row[1][e] for row in stream for e in range(NUM_ENVS)}

    batch = replay.sample(4096, torch.Generator().manual_seed(seed), 0.0)
    assert batch.obs.shape == (4096, 2) and batch.rewards.shape == (4096,), f"{name}: a minibatch of 4096 has obs {tuple(batch.obs.shape)}"
    seen = set()
    for i, obs in enumerate(batch.obs.tolist()):
        key = tuple(obs)
        assert key in expected, f"{name}: drew an observation it no longer holds (or never held): {key}"
        seen.add(key)
        ret, next_obs, terminated, discount = expected[key]
        assert torch.equal(batch.actions[i], actions[key]), f"{name}: an observation came back with another transition's action"
        got_discount = GAMMA if batch.discounts is None else float(batch.discounts[i])
        assert math.isclose(float(batch.rewards[i]), ret, rel_tol=1e-5, abs_tol=1e-5), f"{name}: n-step return {float(batch.rewards[i])}, expected {ret}"
        assert torch.equal(batch.next_obs[i], next_obs) and bool(batch.terminated[i]) == terminated, f"{name}: wrong s_t+k or termination"
        assert math.isclose(got_discount, discount, rel_tol=1e-6), f"{name}: discount {got_discount}, expected gamma^k = {discount}"
    assert len(seen) == CAPACITY, f"{name}: 4096 draws reached {len(seen)} of its {CAPACITY} transitions"
    if batch.weights is not None:
        assert batch.weights.shape == (4096,) and bool(((batch.weights > 0) & (batch.weights <= 1)).all()), f"{name}: weights outside (0, 1]"
    if TD_ERRORS in replay.requires:
        _check_prioritized(replay, expected, seed)
    _check_replay_state(replay, layout, seed)
    if SEQUENCES in replay.provides:
        _check_sequences(type(replay)(replay.spec), seed)


def _check_sequences(replay: Replay, seed: int, length: int = 4) -> None:
    """A replay that provides ``sequences`` stores each transition's memory and draws windows of ``length``
    consecutive kept steps of one env: obs, actions, s' and memory as added, ``starts`` true exactly after a step
    that ended an episode (not at a window's first step, whose memory is already the new episode's), and it
    reaches every window it keeps; the memory survives a checkpoint."""
    layout = ReplayLayout(CAPACITY, (2,), torch.float32, (1,), torch.device("cpu"), NUM_ENVS, GAMMA, memory_size=3)
    replay.allocate(layout)
    stream = transition_stream(ROWS, NUM_ENVS, seed)
    memories = [torch.randn(NUM_ENVS, 3, generator=torch.Generator().manual_seed(seed + 10 + t)) for t in range(ROWS)]
    for row, memory in zip(stream, memories):
        replay.add(*row, memory)
    where = {tuple(row[0][e].tolist()): (e, t) for t, row in enumerate(stream) for e in range(NUM_ENVS)}
    kept = ROWS - CAPACITY // NUM_ENVS
    name, windows = replay.name, 512
    batch = replay.sample_sequences(windows, length, torch.Generator().manual_seed(seed), 0.0)
    assert batch.columns == windows and batch.obs.shape == (length * windows, 2), f"{name}: {windows} windows of {length} steps came as {batch.obs.shape}"
    assert batch.memory is not None and batch.starts is not None, f"{name}: sequences without memory or starts"
    steps = batch.obs.view(length, windows, 2)
    firsts = set()
    for m in range(windows):
        origin = [where.get(tuple(steps[j, m].tolist())) for j in range(length)]
        assert None not in origin, f"{name}: a window holds an observation it never stored"
        env, first = origin[0]
        assert origin == [(env, first + j) for j in range(length)], f"{name}: a window is not consecutive steps of one env: {origin}"
        assert first >= kept, f"{name}: a window reaches step {first} of env {env}, which was overwritten"
        firsts.add(origin[0])
        for j, (e, t) in enumerate(origin):
            i = j * windows + m
            _, action, _, next_obs, terminated, truncated = (part[e] for part in stream[t])
            assert torch.equal(batch.actions[i], action) and torch.equal(batch.next_obs[i], next_obs), f"{name}: a window's action or s' is another step's"
            assert torch.equal(batch.memory[i], memories[t][e]), f"{name}: a window's step came back with another step's memory"
            ended_before = j > 0 and bool(stream[t - 1][4][e] | stream[t - 1][5][e])
            assert bool(batch.starts[i]) == ended_before, f"{name}: starts at step {j} of a window is {bool(batch.starts[i])}, expected {ended_before}"
    possible = NUM_ENVS * (ROWS - kept - length + 1)
    assert len(firsts) == possible, f"{name}: {windows} windows began at {len(firsts)} of the {possible} places a whole window is kept"
    _check_replay_state(replay, layout, seed)


def _check_prioritized(replay: Replay, expected: dict, seed: int) -> None:
    """Give each transition a TD error (its index among the stored, 0.1 to 1.8), then draw: the largest-error
    transition comes more often than the smallest, and with beta = 1 the weighted mean of a per-transition
    quantity matches its plain mean over what is stored."""
    keys = sorted(expected)
    error_of = {key: 0.1 * (i + 1) for i, key in enumerate(keys)}
    batch = replay.sample(4096, torch.Generator().manual_seed(seed + 1), 0.0)
    replay.update_priorities(batch, torch.tensor([error_of[tuple(obs)] for obs in batch.obs.tolist()]))
    drawn = replay.sample(20_000, torch.Generator().manual_seed(seed + 2), 1.0)
    counts = {key: 0 for key in keys}
    for obs in drawn.obs.tolist():
        counts[tuple(obs)] += 1
    name = replay.name
    assert counts[keys[-1]] > counts[keys[0]], f"{name}: the transition of the largest TD error was drawn {counts[keys[-1]]} times, the smallest {counts[keys[0]]}"
    assert drawn.weights is not None, f"{name} requires td_errors but gives no importance weights"
    quantity = torch.tensor([error_of[tuple(obs)] for obs in drawn.obs.tolist()])
    weighted = float((drawn.weights * quantity).sum() / drawn.weights.sum())
    plain = sum(error_of.values()) / len(keys)
    # self-normalized importance sampling over 20,000 draws: its sd here is under 0.01; allow 0.05
    assert abs(weighted - plain) < 0.05, f"{name}: with beta = 1 the weighted mean is {weighted:.3f}, the stored mean {plain:.3f}"


def _check_replay_state(replay: Replay, layout: ReplayLayout, seed: int) -> None:
    buffer = io.BytesIO()
    torch.save(replay.state_dict(), buffer)
    buffer.seek(0)
    fresh = type(replay)(replay.spec)
    fresh.allocate(layout)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert_same(fresh.state_dict(), replay.state_dict(), f"{replay.name}: its state after load_state_dict")
    a, b = (r.sample(64, torch.Generator().manual_seed(seed + 3), 0.5) for r in (replay, fresh))
    assert torch.equal(a.obs, b.obs) and torch.equal(a.rewards, b.rewards), f"{replay.name}: a restored replay draws other minibatches"


GOALS = GoalLayout((0, 2), (2, 4), lambda achieved, desired: -(np.linalg.norm(achieved - desired, axis=1) > 0.5).astype(np.float32))
GOAL_ENVS, GOAL_ROWS, GOAL_CAPACITY = 2, 40, 60  # 80 transitions added, the newest 60 kept


def goal_episodes(seed: int) -> tuple[list[tuple[torch.Tensor, ...]], list[list[list[tuple[int, int]]]]]:
    """Rows of goal transitions as a trainer adds them (obs: achieved goal, desired goal, one feature), episodes
    of 3 to 8 steps (ended by termination or truncation), and per env its episodes as lists of (row, env)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 9, (GOAL_ENVS, GOAL_ROWS), generator=generator)
    stream, episodes = [], [[[]] for _ in range(GOAL_ENVS)]
    obs, steps = torch.randn(GOAL_ENVS, 5, generator=generator), [0] * GOAL_ENVS
    episode_of = [0] * GOAL_ENVS
    for t in range(GOAL_ROWS):
        ended = torch.tensor([steps[e] + 1 >= int(lengths[e, episode_of[e]]) for e in range(GOAL_ENVS)])
        cut = ended & (torch.rand(GOAL_ENVS, generator=generator) < 0.5)
        following = torch.randn(GOAL_ENVS, 5, generator=generator)
        next_obs = torch.randn(GOAL_ENVS, 5, generator=generator)
        next_obs[:, 2:4] = obs[:, 2:4]  # the desired goal holds through an episode
        stream.append((obs, torch.randn(GOAL_ENVS, 1, generator=generator), torch.randn(GOAL_ENVS, generator=generator), next_obs, ended & ~cut, cut))
        for e in range(GOAL_ENVS):
            episodes[e][-1].append((t, e))
            steps[e] += 1
            if ended[e]:
                episodes[e].append([])
                steps[e], episode_of[e] = 0, episode_of[e] + 1
        obs = torch.where(ended[:, None], following, next_obs)
    return stream, episodes


def _check_hindsight(replay: Replay, seed: int) -> None:
    """A hindsight replay draws only transitions of whole stored episodes (ended, none of their steps
    overwritten), each with its own action; about k / (k + 1) of them (n_sampled_goal k) with a new desired
    goal, in s and s' alike, that is the goal achieved in s' at a step t' of the same episode (future: t' >= t,
    both t' = t and t' > t seen; final: the last step; episode: any, earlier ones seen), the rest as stored;
    every reward is the layout's compute_reward of the goal achieved in s' and the desired goal (as stored for
    real ones); the state survives a checkpoint."""
    layout = ReplayLayout(GOAL_CAPACITY, (5,), torch.float32, (1,), torch.device("cpu"), GOAL_ENVS, GAMMA, GOALS)
    replay.allocate(layout)
    stream, episodes = goal_episodes(seed)
    for row in stream:
        replay.add(*row)
    name, kept = replay.name, GOAL_ROWS - GOAL_CAPACITY // GOAL_ENVS
    whole = [episode for per_env in episodes for episode in per_env[:-1] if episode[0][0] >= kept]  # ended, none overwritten
    where = {}  # (achieved goal, feature) of s -> (episode, step)
    for episode in whole:
        for step, (t, e) in enumerate(episode):
            where[tuple(stream[t][0][e, [0, 1, 4]].tolist())] = (episode, step)
    draws = 4000
    batch = replay.sample(draws, torch.Generator().manual_seed(seed), 0.0)
    relabelled, offsets = 0, set()
    for i in range(draws):
        key = tuple(batch.obs[i, [0, 1, 4]].tolist())
        assert key in where, f"{name}: drew a transition outside the whole stored episodes: {key}"
        episode, step = where[key]
        t, e = episode[step]
        obs, actions, rewards, next_obs = (part[e] for part in stream[t][:4])
        assert torch.equal(batch.actions[i], actions), f"{name}: a transition came back with another's action"
        assert torch.equal(batch.obs[i, 2:4], batch.next_obs[i, 2:4]), f"{name}: s and s' have different desired goals"
        assert torch.equal(batch.next_obs[i, [0, 1, 4]], next_obs[[0, 1, 4]]), f"{name}: s' is not the transition's own (goals aside)"
        if torch.equal(batch.obs[i, 2:4], obs[2:4]):
            assert math.isclose(float(batch.rewards[i]), float(rewards), abs_tol=1e-6), f"{name}: a real transition's reward changed"
            continue
        relabelled += 1
        sources = [j for j, (u, f) in enumerate(episode) if torch.equal(stream[u][3][f, 0:2], batch.obs[i, 2:4])]
        assert sources, f"{name}: a new desired goal {batch.obs[i, 2:4].tolist()} is no goal achieved in its episode"
        offsets.add(sources[0] - step)
        strategy = replay.spec.goal_selection
        allowed = {"future": sources[0] >= step, "final": sources[0] == len(episode) - 1, "episode": True}[strategy]
        assert allowed, f"{name}: goal_selection {strategy}: step {step} of {len(episode)} got the goal achieved at step {sources[0]}"
        expected = float(GOALS.compute_reward(batch.next_obs[i : i + 1, 0:2].numpy(), batch.obs[i : i + 1, 2:4].numpy())[0])
        assert float(batch.rewards[i]) == expected, f"{name}: a relabelled reward {float(batch.rewards[i])}, compute_reward gives {expected}"
    k = replay.spec.n_sampled_goal
    # binomial fraction over 4,000 draws: sd under 0.008; allow 0.04
    assert abs(relabelled / draws - k / (k + 1)) < 0.04, f"{name}: {relabelled} of {draws} relabelled, expected k / (k + 1) = {k / (k + 1):.2f}"
    if replay.spec.goal_selection == "future" and k:
        assert 0 in offsets and any(o > 0 for o in offsets), f"{name}: future goals came from step offsets {sorted(offsets)} only"
    if replay.spec.goal_selection == "episode" and k:
        assert any(o < 0 for o in offsets), f"{name}: episode goals never came from an earlier step ({sorted(offsets)})"
    _check_replay_state(replay, layout, seed)
