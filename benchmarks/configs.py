"""The benchmark configurations: one pgkit recipe and the same settings in Stable-Baselines3."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


@dataclass(frozen=True)
class Config:
    name: str
    recipe: Path
    overrides: list[str]
    env_id: str
    num_envs: int
    total_steps: int
    target: float  # rolling mean of 100 training episodes whose first crossing is timed
    make_sb3: Callable[[Any, int], Any]  # (vec_env, seed) -> SB3 model
    sb3_normalize_obs: bool = False
    sb3_normalize_reward: bool = False  # with sb3_normalize_obs: VecNormalize scales rewards too (pgkit's env.normalize.reward)
    sb3_pgkit_envs: bool = False  # SB3 steps envs made by pgkit's make_env from the recipe (same modules, entry point, wrappers)
    learning_starts: int = 0  # off-policy: steps/s are counted from here on
    sb3_wrapper: Callable[[Any], Any] | None = None  # applied to each SB3 env (make_vec_env's wrapper_class)
    sb3_masked: bool = False  # sb3-contrib's MaskablePPO: its evaluation passes the envs' action_masks()
    sb3_agents: int = 0  # a PettingZoo env with this many agents: SB3 steps SuperSuit's vector env of its agents (steps/s per env step)
    sb3_recipe: Path | None = None  # with sb3_pgkit_envs: the recipe whose envs SB3 steps, where not this one (pgkit's own is EnvPool's)
    extra: dict = field(default_factory=dict)


def _linear(value: float):
    return lambda remaining: remaining * value


def _ppo_cartpole(env, seed):
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
               learning_rate=_linear(1e-3), clip_range=_linear(0.2), seed=seed, device="cpu")


def _a2c_cartpole(env, seed):
    from stable_baselines3 import A2C

    return A2C("MlpPolicy", env, ent_coef=0.0, seed=seed, device="cpu")


def _ppo_pendulum(env, seed):
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, n_steps=256, batch_size=64, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0,
               learning_rate=1e-3, clip_range=0.2, policy_kwargs={"log_std_init": -0.5}, seed=seed, device="cpu")


def _ppo_pendulum_zoo(env, seed):
    """rl-baselines3-zoo's hyperparams/ppo.yml for Pendulum-v1 as it is: gSDE, n_steps 1024, 1e5 steps."""
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, n_steps=1024, batch_size=64, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0,
               learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4, seed=seed, device="cpu")


def _ppo_acrobot(env, seed):
    """rl-baselines3-zoo's hyperparams/ppo.yml for Acrobot-v1 (with VecNormalize of observations and rewards)."""
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, n_steps=256, gae_lambda=0.94, gamma=0.99, n_epochs=4, ent_coef=0.0, seed=seed, device="cpu")


def _td3_pendulum(env, seed, learning_starts=1000):
    import numpy as np
    from stable_baselines3 import TD3
    from stable_baselines3.common.noise import NormalActionNoise

    noise = NormalActionNoise(np.zeros(1), 0.1 * np.ones(1))
    return TD3("MlpPolicy", env, learning_rate=1e-3, buffer_size=200_000, learning_starts=learning_starts, gamma=0.98,
               action_noise=noise, policy_kwargs={"net_arch": [400, 300]}, seed=seed, device="cpu")


def _td3_nstep_pendulum(env, seed):
    import numpy as np
    from stable_baselines3 import TD3
    from stable_baselines3.common.noise import NormalActionNoise

    noise = NormalActionNoise(np.zeros(1), 0.1 * np.ones(1))
    return TD3("MlpPolicy", env, learning_rate=1e-3, buffer_size=200_000, learning_starts=1000, gamma=0.98, n_steps=3,
               action_noise=noise, policy_kwargs={"net_arch": [400, 300]}, seed=seed, device="cpu")


def _sac_her_fetchreach(env, seed):
    """fetchreach-sac-her's settings: SAC's default twin critics, HerReplayBuffer with 4 future goals."""
    from stable_baselines3 import SAC, HerReplayBuffer

    return SAC("MultiInputPolicy", env, learning_rate=1e-3, buffer_size=1_000_000, learning_starts=1000, batch_size=256, gamma=0.95,
               replay_buffer_class=HerReplayBuffer, replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
               policy_kwargs={"net_arch": [64, 64]}, seed=seed, device="cpu")


def _sac_pendulum(env, seed):
    from stable_baselines3 import SAC

    return SAC("MlpPolicy", env, learning_rate=1e-3, seed=seed, device="cpu")  # the zoo: SB3's defaults, lr 1e-3


def _trpo_cartpole(env, seed):
    from sb3_contrib import TRPO

    return TRPO("MlpPolicy", env, n_steps=512, batch_size=512, cg_damping=1e-3, gae_lambda=0.98, gamma=0.99,
                learning_rate=1e-3, n_critic_updates=20, seed=seed, device="cpu")


def _a2c_lunarlander(env, seed):
    """rl-baselines3-zoo's hyperparams/a2c.yml for LunarLander-v3 as it is."""
    from stable_baselines3 import A2C

    return A2C("MlpPolicy", env, gamma=0.995, n_steps=5, learning_rate=_linear(0.00083), ent_coef=0.00001, seed=seed, device="cpu")


def _trpo_lunarlander(env, seed):
    """rl-baselines3-zoo's hyperparams/trpo.yml for LunarLander-v3 as it is."""
    from sb3_contrib import TRPO

    return TRPO("MlpPolicy", env, n_steps=512, cg_damping=0.01, gae_lambda=0.98, gamma=0.99, learning_rate=1e-3,
                n_critic_updates=15, seed=seed, device="cpu")


def _ppo_lunarlander(env, seed):
    """rl-baselines3-zoo's hyperparams/ppo.yml for LunarLander-v3 (and LunarLanderContinuous-v3) as it is."""
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01, seed=seed, device="cpu")


def _ppo_mountaincar(env, seed):
    """rl-baselines3-zoo's hyperparams/ppo.yml for MountainCar-v0 as it is (with VecNormalize)."""
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, n_steps=16, gae_lambda=0.98, gamma=0.99, n_epochs=4, ent_coef=0.0, seed=seed, device="cpu")


def _trpo_mountaincar(env, seed):
    """rl-baselines3-zoo's hyperparams/trpo.yml for MountainCar-v0 as it is (with VecNormalize)."""
    from sb3_contrib import TRPO

    return TRPO("MlpPolicy", env, n_steps=1024, n_critic_updates=20, seed=seed, device="cpu")


def _ppo_mountaincar_continuous(env, seed):
    """rl-baselines3-zoo's hyperparams/ppo.yml for MountainCarContinuous-v0 as it is (with VecNormalize, gamma 0.9999)."""
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, batch_size=256, n_steps=8, gamma=0.9999, learning_rate=7.77e-05, ent_coef=0.00429, clip_range=0.1,
               n_epochs=10, gae_lambda=0.9, max_grad_norm=5, vf_coef=0.19, use_sde=True,
               policy_kwargs={"log_std_init": -3.29, "ortho_init": False}, seed=seed, device="cpu")


def _ppo_hopper(env, seed):
    """rl-baselines3-zoo's hyperparams/ppo.yml for Hopper-v4 as it is (with VecNormalize, gamma 0.999), on Hopper-v5."""
    import torch.nn as nn
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, batch_size=32, n_steps=512, gamma=0.999, learning_rate=9.80828e-05, ent_coef=0.00229519, clip_range=0.2,
               n_epochs=5, gae_lambda=0.99, max_grad_norm=0.7, vf_coef=0.835671,
               policy_kwargs={"log_std_init": -2, "ortho_init": False, "activation_fn": nn.ReLU, "net_arch": {"pi": [256, 256], "vf": [256, 256]}},
               seed=seed, device="cpu")


def _trpo_pendulum(env, seed):
    from sb3_contrib import TRPO

    return TRPO("MlpPolicy", env, n_steps=1024, gamma=0.9, n_critic_updates=15, seed=seed, device="cpu")  # the zoo's, without gSDE


def _ppo_minatar(env, seed):
    """The recipe's settings; MinAtar's torso (16 3x3 filters, 128 units) as the shared features extractor."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class MinAtarCNN(BaseFeaturesExtractor):
        def __init__(self, space):
            super().__init__(space, 128)
            height, width, channels = space.shape
            self.net = torch.nn.Sequential(
                torch.nn.Conv2d(channels, 16, 3, 1), torch.nn.ReLU(), torch.nn.Flatten(),
                torch.nn.Linear(16 * (height - 2) * (width - 2), 128), torch.nn.ReLU(),
            )

        def forward(self, obs):
            return self.net(obs.permute(0, 3, 1, 2))

    return PPO("CnnPolicy", env, n_steps=128, batch_size=256, n_epochs=4, gae_lambda=0.95, gamma=0.99, ent_coef=0.01,
               learning_rate=_linear(2.5e-4), clip_range=0.2, policy_kwargs={"features_extractor_class": MinAtarCNN, "normalize_images": False, "net_arch": []},
               seed=seed, device="cpu")


def _recurrent_ppo_cartpole_novel(env, seed):
    """sb3-contrib's RecurrentPPO with rl-baselines3-zoo's ppo_lstm settings for CartPoleNoVel-v1."""
    import torch
    from sb3_contrib import RecurrentPPO

    policy = dict(ortho_init=False, activation_fn=torch.nn.ReLU, lstm_hidden_size=64, enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64]))
    return RecurrentPPO("MlpLstmPolicy", env, n_steps=32, batch_size=256, n_epochs=20, gae_lambda=0.8, gamma=0.98, ent_coef=0.0,
                        learning_rate=_linear(1e-3), clip_range=_linear(0.2), policy_kwargs=policy, seed=seed, device="cpu")


def _ppo_atari(env, seed):
    from stable_baselines3 import PPO

    return PPO("CnnPolicy", env, n_steps=128, batch_size=256, n_epochs=4, gae_lambda=0.95, gamma=0.99, ent_coef=0.01, vf_coef=0.5,
               learning_rate=_linear(2.5e-4), clip_range=_linear(0.1), seed=seed, device="cpu")  # the zoo's Atari PPO


def _maskable_ppo_taxi(env, seed):
    """sb3-contrib's MaskablePPO with taxi-masked-ppo's settings (MlpPolicy: [64, 64] tanh, separate critic)."""
    from sb3_contrib import MaskablePPO

    return MaskablePPO("MlpPolicy", env, n_steps=128, batch_size=256, n_epochs=4, gae_lambda=0.95, gamma=0.99, ent_coef=0.01,
                       learning_rate=1e-3, clip_range=0.2, max_grad_norm=0.5, seed=seed, device="cpu")


def _ippo_spread(env, seed):
    """SB3's PPO on SuperSuit's vector env of simple_spread's agents (PettingZoo's SB3 tutorial: IPPO, one shared
    policy), with simple-spread-ippo's settings (MSE value loss: SB3 has no Huber)."""
    import torch
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, n_steps=25, batch_size=600, n_epochs=10, learning_rate=7e-4, ent_coef=0.01, vf_coef=1.0, max_grad_norm=10,
               gamma=0.99, gae_lambda=0.95, clip_range=0.2, normalize_advantage=True,
               policy_kwargs={"net_arch": [64, 64], "activation_fn": torch.nn.ReLU}, device="cpu")  # no seed=: SuperSuit's envs take none


def _taxi_masks(env):
    """Taxi's own mask of its current state, as sb3-contrib's ActionMasker reads it (pgkit reads info["action_mask"])."""
    from sb3_contrib.common.wrappers import ActionMasker

    return ActionMasker(env, lambda wrapped: wrapped.unwrapped.action_mask(wrapped.unwrapped.s))


CONFIGS = {
    c.name: c
    for c in [
        Config("ppo-cartpole", RECIPES / "cartpole-ppo.yaml", [], "CartPole-v1", 8, 100_000, 475, _ppo_cartpole),
        Config("a2c-cartpole", RECIPES / "cartpole-a2c.yaml", [], "CartPole-v1", 8, 500_000, 475, _a2c_cartpole),
        Config("ppo-pendulum", RECIPES / "pendulum-ppo.yaml", [], "Pendulum-v1", 4, 200_000, -250, _ppo_pendulum, sb3_normalize_obs=True),
        Config("ppo-acrobot", RECIPES / "acrobot-ppo.yaml", ["trainer.total_steps=1000000"], "Acrobot-v1", 16, 1_000_000, -100, _ppo_acrobot,
               sb3_normalize_obs=True, sb3_normalize_reward=True),
        # the zoo's published Pendulum PPO (gSDE) at its 1e5 budget, against the same settings (pendulum-ppo-gsde)
        Config("ppo-pendulum-zoo", RECIPES / "pendulum-ppo-gsde.yaml", [], "Pendulum-v1", 4, 100_000, -250, _ppo_pendulum_zoo),
        # TD3 with fewer steps for time: 1000 random steps, then 4000 learning steps
        Config("td3-pendulum", RECIPES / "pendulum-td3.yaml", ["trainer.learning_starts=1000", "trainer.total_steps=5000"],
               "Pendulum-v1", 1, 5_000, -250, _td3_pendulum, learning_starts=1000),
        # the zoo's full TD3 run (10k random steps, 10k learning steps), for returns at convergence
        Config("td3-pendulum-full", RECIPES / "pendulum-td3.yaml", [], "Pendulum-v1", 1, 20_000, -250,
               lambda env, seed: _td3_pendulum(env, seed, learning_starts=10_000), learning_starts=10_000),
        # TD3 as td3-pendulum with 3-step returns (SB3's n_steps, pgkit's replay n_step)
        Config("td3-nstep-pendulum", RECIPES / "pendulum-td3.yaml", ["trainer.learning_starts=1000", "trainer.total_steps=5000",
               "replay={type: uniform, n_step: 3}"], "Pendulum-v1", 1, 5_000, -250, _td3_nstep_pendulum, learning_starts=1000),
        # SAC with hindsight relabelling on gymnasium-robotics' FetchReach (the robotics extra); SB3 steps pgkit's envs
        Config("sac-her-fetchreach", RECIPES / "fetchreach-sac-her.yaml", ["trainer.eval=null"], "FetchReach-v4", 1, 20_000, -10,
               _sac_her_fetchreach, sb3_pgkit_envs=True, learning_starts=1000),
        # the zoo's SAC (SB3's defaults, lr 1e-3, 20k steps; 100 random steps, then learning)
        Config("sac-pendulum", RECIPES / "pendulum-sac.yaml", [], "Pendulum-v1", 1, 20_000, -250, _sac_pendulum, learning_starts=100),
        Config("trpo-cartpole", RECIPES / "cartpole-trpo.yaml", [], "CartPole-v1", 2, 100_000, 475, _trpo_cartpole),
        Config("trpo-pendulum", RECIPES / "pendulum-trpo.yaml", [], "Pendulum-v1", 2, 100_000, -250, _trpo_pendulum),
        # issue 31's Box2D and MountainCar rows: the zoo's settings through SB3 on the suite's seeds (eval as the suite's)
        Config("ppo-lunarlander", RECIPES / "lunarlander-ppo.yaml", [], "LunarLander-v3", 16, 1_000_000, 200, _ppo_lunarlander),
        Config("a2c-lunarlander", RECIPES / "lunarlander-a2c.yaml", [], "LunarLander-v3", 8, 200_000, 200, _a2c_lunarlander),
        Config("trpo-lunarlander", RECIPES / "lunarlander-trpo.yaml", [], "LunarLander-v3", 2, 200_000, 200, _trpo_lunarlander),
        Config("ppo-lunarlander-continuous", RECIPES / "lunarlander-continuous-ppo.yaml", [], "LunarLanderContinuous-v3", 16, 1_000_000, 200,
               _ppo_lunarlander),
        Config("ppo-mountaincar", RECIPES / "mountaincar-ppo.yaml", [], "MountainCar-v0", 16, 1_000_000, -120, _ppo_mountaincar,
               sb3_normalize_obs=True, sb3_normalize_reward=True),
        Config("trpo-mountaincar", RECIPES / "mountaincar-trpo.yaml", [], "MountainCar-v0", 2, 100_000, -120, _trpo_mountaincar,
               sb3_normalize_obs=True, sb3_normalize_reward=True),
        Config("ppo-mountaincar-continuous", RECIPES / "mountaincar-continuous-ppo.yaml", [], "MountainCarContinuous-v0", 1, 20_000, 80,
               _ppo_mountaincar_continuous, sb3_normalize_obs=True, sb3_normalize_reward=True),
        # issue 31's MuJoCo rows: the zoo's Hopper PPO through SB3 on the suite's seeds
        Config("ppo-hopper", RECIPES / "hopper-ppo.yaml", [], "Hopper-v5", 1, 1_000_000, 2000, _ppo_hopper,
               sb3_normalize_obs=True, sb3_normalize_reward=True),
        Config("ppo-minatar-breakout", RECIPES / "minatar-breakout-ppo.yaml", ["trainer.total_steps=250000"], "MinAtar/Breakout-v1", 8, 250_000, 4,
               _ppo_minatar, sb3_pgkit_envs=True),
        # CartPole with only its positions (select [0, 2]): SB3 steps pgkit's envs, VecNormalize as env.normalize
        Config("recurrent-ppo-cartpole-novel", RECIPES / "cartpole-novel-lstm-ppo.yaml", [], "CartPole-v1", 8, 100_000, 475,
               _recurrent_ppo_cartpole_novel, sb3_normalize_obs=True, sb3_normalize_reward=True, sb3_pgkit_envs=True),
        # the same with pgkit's GRU (sb3-contrib has only an LSTM: its side is the same RecurrentPPO)
        Config("recurrent-gru-ppo-cartpole-novel", RECIPES / "cartpole-novel-gru-ppo.yaml", [], "CartPole-v1", 8, 100_000, 475,
               _recurrent_ppo_cartpole_novel, sb3_normalize_obs=True, sb3_normalize_reward=True, sb3_pgkit_envs=True),
        Config("maskable-ppo-taxi", RECIPES / "taxi-masked-ppo.yaml", [], "Taxi-v4", 8, 200_000, 7, _maskable_ppo_taxi,
               sb3_wrapper=_taxi_masks, sb3_masked=True),
        # IPPO on MPE's simple_spread (3 agents, 32 games): SB3 + SuperSuit counts agent steps, reported per env step
        Config("ippo-simple-spread", RECIPES / "simple-spread-ippo.yaml", ["trainer.total_steps=200000"], "mpe2:simple_spread_v3", 32, 200_000,
               -20, _ippo_spread, sb3_agents=3),
        Config("ppo-atari-pong", RECIPES / "atari-pong-ppo.yaml", ["trainer.total_steps=100000"], "ALE/Pong-v5", 8, 100_000, 0,
               _ppo_atari, sb3_pgkit_envs=True),
        # the same against pgkit on EnvPool's batch; SB3 steps the gymnasium pipeline of ppo-atari-pong (its users' own)
        Config("ppo-atari-pong-envpool", RECIPES / "atari-pong-ppo-envpool.yaml", ["trainer.total_steps=30720"], "ALE/Pong-v5", 8, 30_720, 0,
               _ppo_atari, sb3_pgkit_envs=True, sb3_recipe=RECIPES / "atari-pong-ppo.yaml"),
    ]
}
