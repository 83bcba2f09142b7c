"""The non-slot part of a recipe: run name, seed, device, threads and environment."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pgkit.envs.settings import EnvSettings

MAX_SEED = 2**32 - 1  # numpy's and gymnasium's seeds are 32-bit
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,3})?)$")
NAME_PATTERN = re.compile(r"^[^\x00-\x1f\x7f/\\.][^\x00-\x1f\x7f/\\]{0,99}$")


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str | None = Field(
        None,
        description="Run name (runs/<name>-<time>/); defaults to the recipe file's name. At most 100 characters, "
        "no path separators or control characters, not starting with a dot.",
    )
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Seeds torch, the environments and minibatch shuffling (0 to 2**32 - 1).")
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:N, mps, or auto (cuda if available).")
    torch_threads: int | None = Field(
        1, ge=1, le=1024, description="torch intra-op threads; 1 is fastest for small networks; null keeps torch's default."
    )
    checkpoint_every: int | None = Field(
        None, ge=1, description="Environment steps between checkpoints, each written atomically over the last; null: only at the end."
    )
    env: EnvSettings = Field(description="The gymnasium environment.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str | None) -> str | None:
        if name is not None and not NAME_PATTERN.match(name):
            raise ValueError(
                "a run name is 1 to 100 characters without '/', '\\' or control characters, not starting with '.'"
            )
        return name

    @field_validator("device")
    @classmethod
    def _known_device(cls, device: str) -> str:
        if not DEVICE_PATTERN.match(device):
            raise ValueError("a device is cpu, cuda, cuda:N, mps or auto")
        return device
