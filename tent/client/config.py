"""The client's only state: one JSON file holding the entity, its servers and the keys.

The file contains Hawk keys that act as the owner's app, so it must never be readable by
others, not even for an instant: it is written to a new file created with mode 0600 (through
``os.open``, so the umask cannot widen it) and renamed over the old one, which also means a
crash mid-write never leaves half a file. Directories the client creates get mode 0700.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from tent.client.session import ClientError

ENV_VAR = "TENT_STATUS_CONFIG"
FILE_MODE = 0o600
DIR_MODE = 0o700


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, else ``$TENT_STATUS_CONFIG``, else ``$XDG_CONFIG_HOME/tent/status.json``
    (``~/.config`` when XDG_CONFIG_HOME is unset or not absolute, as the XDG spec says)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "tent" / "status.json"


def load(path: Path) -> dict[str, Any] | None:
    """The saved configuration, or None when there is none yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except ValueError:
        raise ClientError(f"{path} is not valid JSON; remove it and log in again") from None
    if not isinstance(data, dict):
        raise ClientError(f"{path} does not hold a status client configuration")
    return data


def _make_private_dirs(directory: Path) -> None:
    missing = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, DIR_MODE)
            os.chmod(d, DIR_MODE)  # exact mode whatever the umask


def save(path: Path, data: dict[str, Any]) -> None:
    """Write atomically with mode 0600 from the first byte on."""
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        _make_private_dirs(path.parent)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, FILE_MODE)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, FILE_MODE)  # the umask may have narrowed it further; make it exact
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                fd = -1
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise ClientError(f"cannot write {path}: {exc.strerror or exc}") from None


def remove(path: Path) -> dict[str, Any] | None:
    """Delete the saved login; returns what it held (None when there was none)."""
    saved = load(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return saved
