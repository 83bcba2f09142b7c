"""The non-slot part of a recipe: run name, seed, device, threads and environment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pgkit.envs.settings import EnvSettings


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str | None = Field(None, description="Run name (runs/<name>-<time>/); defaults to the recipe file's name.")
    seed: int = Field(0, ge=0, description="Seeds torch, the environments and minibatch shuffling.")
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:N, or auto (cuda if available).")
    torch_threads: int | None = Field(1, ge=1, description="torch intra-op threads; 1 is fastest for small networks; null keeps torch's default.")
    checkpoint_every: int | None = Field(
        None, ge=1, description="Environment steps between checkpoints, each written atomically over the last; null: only at the end."
    )
    env: EnvSettings = Field(description="The gymnasium environment.")
