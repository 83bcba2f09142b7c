"""Small tabular MDPs, as data and as a gymnasium environment (``pgkit/RandomMDP-v0``), whose policy
gradient is known in closed form (``TabularMDP.policy_gradient``): to measure estimators' bias through
the real training data path (``pgkit.runtime.gradient_estimates``)."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import torch


@dataclass(frozen=True)
class TabularMDP:
    """``transitions[s, a, s']`` over S + 1 next states, the last being the absorbing terminal state;
    deterministic ``rewards[s, a]``; ``initial[s]``; the objective's discount ``gamma``."""

    transitions: torch.Tensor  # [S, A, S + 1]
    rewards: torch.Tensor  # [S, A], deterministic
    initial: torch.Tensor  # [S]
    gamma: float = 1.0

    @property
    def num_states(self) -> int:
        return self.rewards.shape[0]

    @property
    def num_actions(self) -> int:
        return self.rewards.shape[1]

    def objective(self, pi: torch.Tensor) -> torch.Tensor:
        """J = mu^T V^pi for action probabilities ``pi`` [S, A] (differentiable)."""
        return self.initial @ self.values(pi)

    def values(self, pi: torch.Tensor) -> torch.Tensor:
        """V^pi = (I - gamma P_pi)^{-1} r_pi, [S], with P_pi[s, s'] = sum_a pi(a|s) P[s, a, s'] (the terminal
        state left out) and r_pi[s] = sum_a pi(a|s) R[s, a]: what a perfect critic would give."""
        r_pi = (pi.double() * self.rewards).sum(-1)
        return torch.linalg.solve(torch.eye(self.num_states, dtype=torch.float64) - self.gamma * self._moves(pi), r_pi)

    def expected_length(self, pi: torch.Tensor, horizon: int | None = None) -> float:
        """E[episode length] under ``pi``: mu^T (I - P_pi)^{-1} 1 (undiscounted); with a time limit of ``horizon``
        steps, E[min(T, H)] = sum_{t<H} mu^T P_pi^t 1."""
        ones = torch.ones(self.num_states, dtype=torch.float64)
        if horizon is None:
            return float(self.initial @ torch.linalg.solve(torch.eye(self.num_states, dtype=torch.float64) - self._moves(pi), ones))
        return float(self._occupancy(pi, horizon, gamma=1.0).sum())

    def time_limited_objective(self, pi: torch.Tensor, horizon: int) -> torch.Tensor:
        """J_H = E[sum_{t<H} gamma^t r_t]: the return of episodes cut by a time limit of H steps (differentiable),
        by H steps of V_h = r_pi + gamma P_pi V_{h-1} from V_0 = 0. The objective of estimators that sum the
        rewards of time-limited episodes (no critic completes them)."""
        r_pi = (pi.double() * self.rewards).sum(-1)
        moves, value = self._moves(pi), torch.zeros(self.num_states, dtype=torch.float64)
        for _ in range(horizon):
            value = r_pi + self.gamma * moves @ value
        return self.initial @ value

    def bootstrapped_direction(self, pi: torch.Tensor, horizon: int) -> torch.Tensor:
        """The scalar whose gradient is the partial-episode-bootstrapping gradient (Pardo et al. 2018): episodes cut
        at H steps, each cut completed by the untruncated V^pi, so sum_{t<H} E[gamma^t grad log pi(a_t|s_t)
        Q^pi(s_t, a_t)] = sum_s d_H(s) sum_a grad pi(a|s) Q^pi(s, a), with d_H the discounted occupancy of
        the first H steps and Q^pi = R + gamma P V^pi held fixed. What estimators with a critic follow under
        a time limit: it is the gradient of no objective, neither J_H nor the untruncated J."""
        with torch.no_grad():
            values = self.values(pi)
            q = self.rewards + self.gamma * torch.einsum("sat,t->sa", self.transitions[:, :, :-1], values)
            occupancy = self._occupancy(pi, horizon, self.gamma)
        return (occupancy[:, None] * pi.double() * q).sum()

    def off_policy_direction(self, pi: torch.Tensor, behaviour: torch.Tensor) -> torch.Tensor:
        """The scalar whose gradient (through ``pi``) is the off-policy policy gradient (Degris et al. 2012) that per-step
        importance weights pi/mu give on episodes of a behaviour policy ``behaviour`` (mu, [S, A]):
        sum_s d_mu(s) sum_a grad pi(a|s) Q^pi(s, a), with d_mu(s) the expected visits of s in an episode of mu
        and Q^pi = R + gamma P V^pi held fixed. The weights correct each step's action, not which states mu
        visits: it is grad J where mu = pi, and near it where mu lags pi by a small update."""
        with torch.no_grad():
            values = self.values(pi)
            q = self.rewards + self.gamma * torch.einsum("sat,t->sa", self.transitions[:, :, :-1], values)
            visits = torch.linalg.solve(torch.eye(self.num_states, dtype=torch.float64) - self._moves(behaviour).T, self.initial.double())
        return (visits[:, None] * pi.double() * q).sum()

    def _occupancy(self, pi: torch.Tensor, horizon: int, gamma: float) -> torch.Tensor:
        """d_H(s) = sum_{t<H} gamma^t Pr(s_t = s, the episode still running), [S]."""
        moves, state, total = self._moves(pi), self.initial.double(), torch.zeros(self.num_states, dtype=torch.float64)
        for t in range(horizon):
            total = total + gamma**t * state
            state = state @ moves
        return total

    def _moves(self, pi: torch.Tensor) -> torch.Tensor:
        """P_pi[s, s'] = sum_a pi(a|s) P[s, a, s'] between non-terminal states."""
        return torch.einsum("sa,sat->st", pi.double(), self.transitions[:, :, :-1])

    def policy_gradient(
        self, policy: torch.nn.Module, obs: torch.Tensor, horizon: int | None = None, bootstrapped: bool = False, behaviour: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """grad J with respect to ``policy``'s parameters (flattened, [P]) in closed form; ``obs`` holds
        the observations of states 0..S-1 as the policy reads them (``policy(obs).probs`` is pi, [S, A]).
        With a time limit of ``horizon`` steps: the gradient of J_H, or with ``bootstrapped`` the
        partial-episode-bootstrapping gradient (``bootstrapped_direction``). With ``behaviour`` (mu, [S, A]; no
        time limit): the off-policy gradient on mu's episodes (``off_policy_direction``)."""
        pi = policy(obs).probs
        if behaviour is not None:
            target = self.off_policy_direction(pi, behaviour)
        elif horizon is None:
            target = self.objective(pi)
        else:
            target = self.bootstrapped_direction(pi, horizon) if bootstrapped else self.time_limited_objective(pi, horizon)
        parameters = [p for p in policy.parameters() if p.requires_grad]
        gradients = torch.autograd.grad(target, parameters)
        return torch.cat([g.reshape(-1) for g in gradients])

    @classmethod
    def random(cls, num_states: int = 3, num_actions: int = 2, seed: int = 0, end_probability: float = 0.3, gamma: float = 1.0) -> TabularMDP:
        """A random MDP whose every step ends the episode with probability ``end_probability``."""
        g = torch.Generator().manual_seed(seed)
        moves = torch.rand(num_states, num_actions, num_states, generator=g, dtype=torch.float64)
        moves = (1 - end_probability) * moves / moves.sum(-1, keepdim=True)
        ends = torch.full((num_states, num_actions, 1), end_probability, dtype=torch.float64)
        rewards = torch.randn(num_states, num_actions, generator=g, dtype=torch.float64)
        initial = torch.softmax(torch.randn(num_states, generator=g, dtype=torch.float64), 0)
        return cls(torch.cat([moves, ends], -1), rewards, initial, gamma)


class TabularMDPEnv(gym.Env):
    """A TabularMDP as an environment: Discrete(S) observations, Discrete(A) actions; reaching the
    terminal state terminates the episode (there is no time limit)."""

    def __init__(self, mdp: TabularMDP):
        self.mdp = mdp
        self.observation_space = gym.spaces.Discrete(mdp.num_states)
        self.action_space = gym.spaces.Discrete(mdp.num_actions)
        self._initial = mdp.initial.numpy().cumsum()  # cumulative: a draw is one uniform and a search
        self._transitions = mdp.transitions.numpy().cumsum(-1)
        self._rewards = mdp.rewards.numpy()
        self._state = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._state = min(int(self._initial.searchsorted(self.np_random.random(), side="right")), self.mdp.num_states - 1)
        return self._state, {}

    def step(self, action):
        state, action = self._state, int(action)
        following = min(int(self._transitions[state, action].searchsorted(self.np_random.random(), side="right")), self.mdp.num_states)
        terminated = following == self.mdp.num_states
        self._state = 0 if terminated else following
        return self._state, float(self._rewards[state, action]), terminated, False, {}


def random_mdp_env(num_states: int = 3, num_actions: int = 2, seed: int = 0, end_probability: float = 0.3, gamma: float = 1.0) -> TabularMDPEnv:
    """``pgkit/RandomMDP-v0``: TabularMDP.random(...) as an environment (its ``mdp`` attribute holds the tables)."""
    return TabularMDPEnv(TabularMDP.random(num_states, num_actions, seed, end_probability, gamma))


def register_tabular_envs() -> None:
    if "pgkit/RandomMDP-v0" not in gym.registry:
        gym.register("pgkit/RandomMDP-v0", entry_point=random_mdp_env, disable_env_checker=True)

