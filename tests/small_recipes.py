"""Small recipes that train in about a second, shared by tests of where training runs (Ray workers, sweeps,
asynchronous collection), and the helper that varies them."""

import copy

SMALL_PPO = {
    "seed": 0,
    "env": {"id": "CartPole-v1", "num_envs": 4},
    "network": {"type": "mlp", "hidden_sizes": [16]},
    "policy_head": "categorical",
    "critic": {"type": "value"},
    "baseline": "none",
    "advantage": {"type": "gae", "gamma": 0.99, "lam": 0.95},
    "objective": {"type": "ppo_clip"},
    "optimizer": {"type": "adam", "lr": 0.001},
    "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32, "epochs": 2, "minibatch_size": 64},
}


def with_changes(document: dict, **changes) -> dict:
    """A deep copy of ``document`` with ``section__field=value`` set inside a section, ``key=value`` at the top."""
    document = copy.deepcopy(document)
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            document[section] = {**document[section], field: value}
        else:
            document[key] = value
    return document
