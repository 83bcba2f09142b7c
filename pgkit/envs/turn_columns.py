"""A PettingZoo AEC game whose agents take turns (chess, go, connect_four, tictactoe) as columns of one vector env.

As ``pgkit.envs.agent_columns`` lays out a parallel env's agents: column ``g * A + a`` is agent ``a`` of game
``g``. One step of this env is one move of each game: the column of the agent whose turn it is
(``agent_selection``) acts, the game's other columns are idle (``alive`` false: zeros as their observation,
every action valid in their mask, their actions ignored). Each agent's rewards are what PettingZoo's ``last()``
reports at its next turn, the reward it gathered since it moved, and they fall on the column at the step that
ends its wait; when a game ends every agent's final reward, termination and final observation come from its last
(dead) turn, taken here, and the game starts again (SAME_STEP autoreset).

An agent's transition runs from one of its turns to its next (``pgkit.runtime.turns`` packs each column's turns
back to back for the estimators), so every estimator bootstraps from the agent's own next turn, as if the
opponents' moves were the env's dynamics.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from pgkit.envs.actions import row
from pgkit.envs.agent_columns import AgentColumns
from pgkit.envs.settings import AgentsSettings


class TurnColumns(AgentColumns):
    """``num_games`` PettingZoo AEC games whose agents take turns, one column per agent of each (see the module)."""

    turn_based = True  # the collector packs each column's turns (pgkit.runtime.turns)

    def __init__(self, make_game: Callable[[], Any], num_games: int, settings: AgentsSettings, mask_key: str | None = "action_mask"):
        super().__init__(make_game, num_games, settings, mask_key)
        self._index = {agent: a for a, agent in enumerate(self.agents)}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        columns = []
        for g, game in enumerate(self.games):
            game.reset(seed=None if seed is None else seed + g, options=options)
            columns += self._observed(g, {game.agent_selection: game.observe(game.agent_selection)})
        self._alive = self._alive_now()
        return self._stacked(columns), {"alive": self._alive.copy()}

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        columns: list[dict[str, np.ndarray]] = []
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        final: dict[int, dict[str, np.ndarray]] = {}
        width = len(self.agents)
        for g, game in enumerate(self.games):
            game.step(row(actions, g * width + self._index[game.agent_selection]))
            turn: dict[str, Any] = {}
            while game.agents:  # the next agents' turns: the dead ones' are taken here, the first live one's is the next step's
                agent = game.agent_selection
                obs, reward, ended, cut, _ = game.last()
                a = self._index[agent]
                rewards[g * width + a] += reward
                if not (ended or cut):
                    turn = {agent: obs}
                    break
                terminated[g * width + a], truncated[g * width + a] = bool(ended), not ended
                final[g * width + a] = self._observed(g, {agent: obs})[a]
                game.step(None)
            if not game.agents:  # the game is over: it starts again
                game.reset()
                turn = {game.agent_selection: game.observe(game.agent_selection)}
            columns += self._observed(g, turn)
        return self._stepped(columns, rewards, terminated, truncated, final)

    def _alive_now(self) -> np.ndarray:
        """Each game's column of the agent whose turn it is."""
        alive = np.zeros(self.num_envs, dtype=bool)
        for g, game in enumerate(self.games):
            if game.agents:
                alive[g * len(self.agents) + self._index[game.agent_selection]] = True
        return alive
