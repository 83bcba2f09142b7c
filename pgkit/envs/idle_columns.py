"""Vector envs whose columns may be idle at a step: a multi-agent env's agents that finished or have not joined
(``pgkit.envs.agent_columns``), a native batch's reset steps (``pgkit.envs.native``). Collectors store their
``alive`` mask with each batch (``Batch.alive``), and the idle steps reach no loss, estimate or statistic."""

from __future__ import annotations

from typing import Any

from pgkit.envs.agent_columns import AgentColumns
from pgkit.envs.native import NextStepColumns


def idle_columns(envs: Any) -> AgentColumns | NextStepColumns | None:
    """The env, or the wrapper inside ``envs``, whose columns may be idle; None if every column always acts."""
    while envs is not None:
        if isinstance(envs, (AgentColumns, NextStepColumns)):
            return envs
        envs = getattr(envs, "env", None)
    return None
