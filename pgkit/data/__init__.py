"""The data path: the batch that flows through training, replay, episodes, normalization."""
