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
from pgkit.envs.agent_columns import AgentColumns, ColumnsStep
from pgkit.envs.settings import AgentsSettings


class TurnColumns(AgentColumns):
    """``num_games`` PettingZoo AEC games whose agents take turns, one column per agent of each (see the module)."""

    turn_based = True  # the collector packs each column's turns (pgkit.runtime.turns)

    def __init__(self, make_game: Callable[[], Any], num_games: int, settings: AgentsSettings, mask_key: str | None = "action_mask"):
        super().__init__(make_game, num_games, settings, mask_key)
        self._index = {agent: a for a, agent in enumerate(self.agents)}

    def _reset_game(self, g: int, seed: int | None, options: dict | None) -> dict[str, Any]:
        game = self.games[g]
        game.reset(seed=seed, options=options)
        return {game.agent_selection: game.observe(game.agent_selection)}

    def _step_game(self, g: int, actions: Any, step: ColumnsStep) -> dict[str, Any]:
        """Game ``g``'s mover moves; the turns after it are taken up to the next live agent's, each agent's ``last()``
        reward falling on its column, a dead agent's ending its episode: the next mover's observation."""
        game, width = self.games[g], len(self.agents)
        game.step(row(actions, g * width + self._index[game.agent_selection]))
        while game.agents:  # the dead agents' turns are taken here, the first live one's is the next step's
            agent = game.agent_selection
            obs, reward, ended, cut, _ = game.last()
            column = g * width + self._index[agent]
            step.rewards[column] += reward
            if not (ended or cut):
                return {agent: obs}
            step.terminated[column], step.truncated[column] = bool(ended), not ended
            step.final[column] = self._observed(g, {agent: obs})[self._index[agent]]
            game.step(None)
        return self._reset_game(g, None, None)  # the game is over: it starts again

    def _alive_now(self) -> np.ndarray:
        """Each game's column of the agent whose turn it is."""
        alive = np.zeros(self.num_envs, dtype=bool)
        for g, game in enumerate(self.games):
            if game.agents:
                alive[g * len(self.agents) + self._index[game.agent_selection]] = True
        return alive
