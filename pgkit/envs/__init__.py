"""Making gymnasium environments from a recipe's ``env`` settings (public: plugins may import these).

Vector envs use same-step autoreset: the step that ends an episode returns the next episode's first
observation and puts the true final one in ``info["final_obs"]`` (``with_final_observations``)."""

from pgkit.envs.making import make_env, make_vector_env, probe_spaces, with_final_observations
from pgkit.envs.settings import EnvSettings, NormalizeSettings

__all__ = ["EnvSettings", "NormalizeSettings", "make_env", "make_vector_env", "probe_spaces", "with_final_observations"]
