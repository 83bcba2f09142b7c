"""Every registered built-in passes the contract of its kind (a new built-in is covered automatically)."""

from __future__ import annotations

import pytest

from pgkit.kinds import KINDS
from pgkit.plugins.registry import build_registry
from pgkit.testing import check_component

REGISTRATIONS = [r for kind in KINDS for r in build_registry(entry_points=False).of_kind(kind)]


@pytest.mark.parametrize("registration", REGISTRATIONS, ids=lambda r: f"{r.kind}-{r.name}")
def test_builtin_meets_its_contract(registration, tmp_path):
    options = {"run_dir": tmp_path} if registration.kind == "logger" else {}
    check_component(registration.cls, **options)
