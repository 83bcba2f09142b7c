"""The data path (public: plugins may import these): the time-major batch that flows through training,
the replay buffer, episode bookkeeping, running normalization, a memory check for large allocations, and
Dict and Tuple observations as flat vectors."""

from pgkit.data.batch import Batch
from pgkit.data.episodes import Episode, EpisodeStatistics, RunningEpisodes
from pgkit.data.memory import check_memory
from pgkit.data.normalization import ObservationNormalizer, RewardScaler, RunningMeanStd
from pgkit.data.replay import ReplayBuffer
from pgkit.data.structured import Part, flat_layout, flatten_batch, is_structured, stored_shape, unsupported_part

__all__ = [
    "Batch",
    "Episode",
    "EpisodeStatistics",
    "ObservationNormalizer",
    "Part",
    "ReplayBuffer",
    "RewardScaler",
    "RunningEpisodes",
    "RunningMeanStd",
    "check_memory",
    "flat_layout",
    "flatten_batch",
    "is_structured",
    "stored_shape",
    "unsupported_part",
]
