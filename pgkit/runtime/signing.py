"""Signing what pgkit writes, so that it never runs what it did not write.

A checkpoint is read with ``torch.load(weights_only=True)``, which builds tensors and plain data only. Two
parts of it could still run code: the environments' state, a pickle, when unpickled; and the stored recipe,
whose code-naming fields (``pgkit.code_names``) pgkit would import or call. pgkit stores an HMAC-SHA256 of
each beside it, keyed by a secret that only this user can read (``$PGKIT_CONFIG_DIR/signing-key``, by
default ``~/.config/pgkit/signing-key``, made on first use with mode 0600), and unpickles only bytes, and
runs only recipes, whose HMAC matches. A checkpoint copied from another user or machine, or altered, is
refused for those parts: ``--fresh-envs`` resumes it with new env resets, and a recipe given again from a
file (``--recipe``) replaces a stored one that names code (``pgkit.runtime.stored_run``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import warnings
from pathlib import Path
from typing import Any

KEY_BYTES = 32


def config_dir() -> Path:
    """$PGKIT_CONFIG_DIR, else $XDG_CONFIG_HOME/pgkit, else ~/.config/pgkit."""
    if os.environ.get("PGKIT_CONFIG_DIR"):
        return Path(os.environ["PGKIT_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "pgkit"


def key_path() -> Path:
    return config_dir() / "signing-key"


def _key(create: bool) -> bytes | None:
    path = key_path()
    if not path.is_file() and create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
        except FileExistsError:  # another process made it first
            pass
        except OSError as exc:
            warnings.warn(f"cannot write pgkit's signing key {path} ({exc.strerror}): the environments' state is saved unsigned, "
                          "so a resume will need --fresh-envs", stacklevel=3)
            return None
    try:
        key = path.read_bytes()
    except OSError:
        return None
    return key if len(key) == KEY_BYTES else None


def sign(data: bytes) -> str | None:
    """The HMAC of ``data`` under this user's key (made if missing), or None if there is no key to use."""
    key = _key(create=True)
    return hmac.new(key, data, hashlib.sha256).hexdigest() if key is not None else None


def signed_by_this_user(data: bytes, signature: str | None) -> bool:
    key = _key(create=False)
    if key is None or not isinstance(signature, str):
        return False
    return hmac.compare_digest(hmac.new(key, data, hashlib.sha256).hexdigest(), signature)


def canonical_bytes(document: Any) -> bytes | None:
    """``document`` (plain data: a recipe) as canonical JSON bytes, the same for equal documents; None if it
    is not plain data."""
    try:
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    except (TypeError, ValueError, RecursionError):
        return None


def sign_document(document: Any) -> str | None:
    """The HMAC of ``document``'s canonical bytes under this user's key, or None."""
    data = canonical_bytes(document)
    return sign(data) if data is not None else None


def document_signed_by_this_user(document: Any, signature: Any) -> bool:
    data = canonical_bytes(document)
    return data is not None and signed_by_this_user(data, signature)
