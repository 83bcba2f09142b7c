"""PettingZoo's turn-based (AEC) games as single-agent gymnasium envs, one seat against opponents.

``pgkit/BoardGame-v0`` (kwargs ``game``: connect_four or tictactoe, or any game module of ``pettingzoo.classic``
whose agents observe a Dict with an ``action_mask``, as go_v5 or chess_v6, made by its ``env(**game_kwargs)``: only
PettingZoo's own modules, so a recipe's kwargs import nothing else; ``seat``: first, second or alternate) plays one
seat of the game; every other seat is a uniform random player over its legal moves, drawing from the env's own
generator (so a seed fixes the games), or, once ``set_opponents`` gave it a pool of policies (``env.self_play``: the
learner's past selves), a policy of that pool drawn at each reset (the random player with probability
``own_opponent``, else the newest with probability ``latest``, else any), moving as it samples. The observation is
the learner's, as PettingZoo gives it: a Dict of its ``observation`` and the ``action_mask`` of its legal moves,
which pgkit's masked heads honour. The reward is the learner's (+1 win, -1 loss, 0 draw in the classic games), its
move's and the others' replies' together; an illegal move ends the game with -1, as PettingZoo's rule wrapper
decides (what an unmasked policy meets). A copy (pickling, for checkpoints) replays the game's moves from its seed.
Needs the ``pettingzoo`` extra.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Callable, Literal, Sequence

import gymnasium as gym
import numpy as np

GAMES = {"connect_four": "classic/connect_four-v3", "tictactoe": "classic/tictactoe-v3"}  # PettingZoo's registry ids
Seat = Literal["first", "second", "alternate"]
Opponent = Callable[[dict, np.random.Generator], int]  # (its observation with the action_mask, the env's generator) -> its move


class BoardGame(gym.Env):
    """One seat of a PettingZoo classic game against a random legal player (see the module)."""

    metadata: dict = {"render_modes": []}

    def __init__(self, game: str = "connect_four", seat: Seat = "alternate", game_kwargs: dict[str, Any] | None = None):
        if game not in GAMES and not re.fullmatch(r"[a-z][a-z0-9_]*_v\d+", game):
            raise ValueError(f"game must be one of {', '.join(GAMES)}, or a game module of pettingzoo.classic (as go_v5), not {game!r}")
        if seat not in ("first", "second", "alternate"):
            raise ValueError(f"seat must be first, second or alternate, not {seat!r}")
        self.name, self.seat, self._episodes, self.game_kwargs = game, seat, 0, dict(game_kwargs or {})
        self.game = _made(game, self.game_kwargs)
        self._game_seed, self._moves = 0, []  # the game so far: what a copy replays (PettingZoo's envs do not pickle)
        self.game.reset(seed=0)
        first = self.game.possible_agents[0]
        self.observation_space = self.game.observation_space(first)
        self.action_space = self.game.action_space(first)
        if not isinstance(self.observation_space, gym.spaces.Dict) or "action_mask" not in self.observation_space.spaces:
            raise ValueError(f"{game}'s agents observe {self.observation_space}, not a Dict with an action_mask of their legal moves, "
                             "which the opponents move by")
        self.learner = first
        self._pool: list[Opponent] = []  # past selves to play against (none: the random player)
        self._latest, self._own_opponent = 0.5, 0.0
        self._opponent: Opponent | None = None

    def set_opponents(self, pool: Sequence[Opponent], latest: float = 0.5, own_opponent: float = 0.0) -> None:
        """Play against ``pool`` from the next reset on: the random player with probability ``own_opponent``, else the
        pool's last entry with probability ``latest``, else any of it."""
        self._pool, self._latest, self._own_opponent = list(pool), latest, own_opponent

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self._game_seed, self._moves = int(self.np_random.integers(2**31)), []
        self.game.reset(seed=self._game_seed)
        index = {"first": 0, "second": 1}.get(self.seat, self._episodes % 2)
        self._episodes += 1
        self.learner = self.game.possible_agents[index]
        self._opponent = self._drawn_opponent()
        self._opponent_moves()  # the opening move, when the learner plays second (no game ends on it)
        return self.game.observe(self.learner), {"seat": index}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self._move(int(action))
        reward = float(self.game.rewards[self.learner])
        if not self._over():
            reward += self._opponent_moves()
        terminated = bool(self.game.terminations[self.learner])
        truncated = bool(self.game.truncations[self.learner]) and not terminated
        return self.game.observe(self.learner), reward, terminated, truncated, {}

    def _over(self) -> bool:
        return bool(self.game.terminations[self.learner] or self.game.truncations[self.learner])

    def _opponent_moves(self) -> float:
        """The opponent's moves until the learner's turn or the game's end; the learner's reward from them."""
        reward = 0.0
        while not self._over() and self.game.agent_selection != self.learner:
            observation = self.game.observe(self.game.agent_selection)
            if self._opponent is None:
                self._move(int(self.np_random.choice(np.flatnonzero(observation["action_mask"]))))
            else:
                self._move(int(self._opponent(observation, self.np_random)))
            reward += float(self.game.rewards[self.learner])
        return reward

    def _drawn_opponent(self) -> Opponent | None:
        if not self._pool or (self._own_opponent > 0 and self.np_random.random() < self._own_opponent):
            return None
        if len(self._pool) == 1 or self.np_random.random() < self._latest:
            return self._pool[-1]
        return self._pool[int(self.np_random.integers(len(self._pool)))]

    def _move(self, action: int) -> None:
        self.game.step(action)
        self._moves.append(action)

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "game"}

    def __setstate__(self, state: dict) -> None:
        """A copy: the game made again and its moves replayed (the games are deterministic)."""
        self.__dict__.update(state)
        self.game = _made(self.name, self.game_kwargs)
        self.game.reset(seed=self._game_seed)
        for action in self._moves:
            self.game.step(action)

    def close(self) -> None:
        self.game.close()


def _made(game: str, kwargs: dict[str, Any]) -> Any:
    try:
        import pettingzoo
    except ImportError as exc:
        raise ImportError(f"pgkit/BoardGame-v0 needs PettingZoo: pip install 'pgkit[pettingzoo]' ({exc})") from None
    if game in GAMES:
        return pettingzoo.make("aec", GAMES[game], **kwargs)
    try:
        module = importlib.import_module(f"pettingzoo.classic.{game}")
    except ImportError as exc:
        raise ValueError(f"pettingzoo.classic has no game {game!r} that imports here ({exc}); its games: "
                         "chess_v6, connect_four_v3, gin_rummy_v4, go_v5, hanabi_v5, leduc_holdem_v4, rps_v2, texas_holdem_v4, ...") from None
    return module.env(**kwargs)


def register_board_games() -> None:
    if "pgkit/BoardGame-v0" not in gym.registry:
        gym.register("pgkit/BoardGame-v0", entry_point=BoardGame, disable_env_checker=True)
