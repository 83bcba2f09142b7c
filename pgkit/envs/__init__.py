"""Making gymnasium environments from a recipe's ``env`` settings (public: plugins may import these).

Vector envs use same-step autoreset: the step that ends an episode returns the next episode's first
observation and puts the true final one in ``info["final_obs"]`` (``with_final_observations``).
Importing it registers ``pgkit/RandomMDP-v0`` (a tabular MDP whose policy gradient is known exactly) and
``pgkit/BoardGame-v0`` (PettingZoo's connect_four or tictactoe against a random player), and two envs with
structured actions: ``pgkit/PickPlace-v0`` (a Dict of a move and a grip) and ``pgkit/Platform-v0`` (a hybrid
choice of run, hop or leap with a parameter each), and a goal env, ``pgkit/PointReach-v0`` (reach a goal on a
plane, rewards from ``compute_reward``), and ``pgkit/Waiting-v0`` (another env whose steps also wait a fixed wall
time, as a simulator's do). A PettingZoo env's agents become the columns of a vector env
(``AgentColumns``, a recipe's ``env.agents``); a turn-based game's, one move of each game per step (``TurnColumns``)."""

from pgkit.envs.agent_columns import AgentColumns
from pgkit.envs.pettingzoo_making import make_agent_columns
from pgkit.envs.actions import ActionLeaf, action_leaves, action_width, as_numpy, entries, leaves_of, map_leaves, row
from pgkit.envs.action_masks import MaskInObservation, MaskSource, mask_dimensions, mask_size
from pgkit.envs.board_games import BoardGame, register_board_games
from pgkit.envs.factories import register_env_factory
from pgkit.envs.goals import GoalRewards
from pgkit.envs.making import make_env, make_vector_env, probe_spaces, with_final_observations
from pgkit.envs.settings import AgentsSettings, EnvSettings, NormalizeSettings, PipelineStep, rescale_box_actions
from pgkit.envs.pick_place import PickPlace, register_pick_place
from pgkit.envs.platform import Platform, register_platform
from pgkit.envs.point_reach import PointReach, register_point_reach
from pgkit.envs.tabular import TabularMDP, TabularMDPEnv, register_tabular_envs
from pgkit.envs.turn_columns import TurnColumns
from pgkit.envs.waiting import Waiting, register_waiting

register_tabular_envs()
register_board_games()
register_pick_place()
register_platform()
register_point_reach()
register_waiting()

__all__ = ["ActionLeaf", "AgentColumns", "AgentsSettings", "BoardGame", "EnvSettings", "GoalRewards", "MaskInObservation", "MaskSource", "PickPlace", "Platform", "PointReach", "action_leaves", "action_width", "as_numpy", "entries", "leaves_of", "map_leaves", "mask_dimensions", "mask_size", "row", "NormalizeSettings", "PipelineStep", "TabularMDP", "TabularMDPEnv", "TurnColumns", "Waiting", "make_agent_columns", "make_env", "make_vector_env", "probe_spaces", "register_env_factory", "rescale_box_actions", "with_final_observations"]
