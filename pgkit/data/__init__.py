"""The data path (public: plugins may import these): the time-major batch that flows through training,
the replay buffer, episode bookkeeping, running normalization, a memory check for large allocations,
Dict and Tuple observations as flat rows, goal observations (hindsight relabelling), and their encoding into what networks read."""

from pgkit.data.batch import Batch
from pgkit.data.encoding import EncodedLinear, ObservationEncoder
from pgkit.data.goals import GOAL_KEYS, GoalLayout, is_goal_space
from pgkit.data.episodes import Episode, EpisodeStatistics, RunningEpisodes
from pgkit.data.memory import check_memory
from pgkit.data.normalization import ObservationNormalizer, RewardScaler, RunningMeanStd
from pgkit.data.replay import ReplayBuffer
from pgkit.data.replay_episodes import ReplayEpisodes
from pgkit.data.sum_tree import SumTree
from pgkit.data.structured import Part, Segment, flat_layout, flatten_batch, index_columns, is_structured, segments, stored_shape, unsupported_part

__all__ = [
    "Batch",
    "EncodedLinear",
    "Episode",
    "EpisodeStatistics",
    "GOAL_KEYS",
    "GoalLayout",
    "ObservationEncoder",
    "ObservationNormalizer",
    "Part",
    "ReplayBuffer",
    "ReplayEpisodes",
    "RewardScaler",
    "RunningEpisodes",
    "RunningMeanStd",
    "Segment",
    "SumTree",
    "check_memory",
    "flat_layout",
    "flatten_batch",
    "index_columns",
    "is_goal_space",
    "is_structured",
    "segments",
    "stored_shape",
    "unsupported_part",
]
