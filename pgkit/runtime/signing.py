"""Signing what pgkit pickles, so that it never unpickles what it did not write.

A checkpoint is read with ``torch.load(weights_only=True)``, which builds tensors and plain data only;
the one pickle in it, the environments' state, could run code when loaded. pgkit stores an HMAC-SHA256
of those bytes beside them, keyed by a secret that only this user can read
(``$PGKIT_CONFIG_DIR/signing-key``, by default ``~/.config/pgkit/signing-key``, made on first use with
mode 0600), and unpickles only bytes whose HMAC matches. A checkpoint copied from another user or
machine, or altered, is refused; ``--fresh-envs`` resumes it with new env resets instead."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import warnings
from pathlib import Path

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
