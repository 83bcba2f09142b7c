"""The runtime: the training loop, runs and their checkpoints, rollout collection, gradient steps."""
