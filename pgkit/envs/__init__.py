"""Making gymnasium environments from a recipe's env settings."""
