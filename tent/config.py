"""One frozen Settings object, read once from environment variables (each also a CLI flag)."""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tent.core.beacon import check_turf
from tent.core.entities import check_entity


def _bool(value: str) -> bool:
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _turfs(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _networks(value: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR networks, each checked (and normalised) now."""
    out = []
    for part in value.split(","):
        if part.strip():
            out.append(str(ipaddress.ip_network(part.strip(), strict=False)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Option:
    field: str
    env: str
    parse: Callable[[str], Any]
    help: str


OPTIONS: tuple[Option, ...] = (
    Option(
        "entity", "TENT_ENTITY", str, "public entity URL, no trailing slash (default: http://localhost:PORT)"
    ),
    Option("host", "TENT_HOST", str, "address to listen on (default 127.0.0.1)"),
    Option("port", "TENT_PORT", int, "port to listen on (default 8080)"),
    Option(
        "database_url",
        "TENT_DATABASE_URL",
        str,
        "PostgreSQL URL; unset = embedded PostgreSQL under the data directory",
    ),
    Option("data_dir", "TENT_DATA_DIR", Path, "directory for the embedded database (default ./tent-data)"),
    Option(
        "app_approval",
        "TENT_APP_APPROVAL",
        str,
        "'owner' (owner approves apps, default) or 'auto' (test mode)",
    ),
    Option(
        "allow_private_addresses",
        "TENT_ALLOW_PRIVATE_ADDRESSES",
        _bool,
        "allow outgoing requests to loopback/private addresses (default off)",
    ),
    Option(
        "delivery_retry_base",
        "TENT_DELIVERY_RETRY_BASE",
        float,
        "first delivery retry delay in seconds (default 15)",
    ),
    Option(
        "delivery_give_up_after",
        "TENT_DELIVERY_GIVE_UP_AFTER",
        float,
        "give up on a delivery after this many seconds (default 604800 = 7 days)",
    ),
    Option(
        "outgoing_timeout",
        "TENT_OUTGOING_TIMEOUT",
        float,
        "seconds an outgoing request (discovery, delivery, proxying) may take (default 20)",
    ),
    Option(
        "max_body_size",
        "TENT_MAX_BODY_SIZE",
        int,
        "largest accepted JSON request body in bytes (default 1048576)",
    ),
    Option(
        "max_attachment_size",
        "TENT_MAX_ATTACHMENT_SIZE",
        int,
        "largest accepted attachment in bytes (default 104857600 = 100 MiB)",
    ),
    Option("db_pool_size", "TENT_DB_POOL_SIZE", int, "PostgreSQL connections per process (default 10)"),
    Option(
        "workers",
        "TENT_WORKERS",
        int,
        "serving processes sharing the port and the database (default 1: the process itself)",
    ),
    Option(
        "trusted_proxies",
        "TENT_TRUSTED_PROXIES",
        _networks,
        "comma-separated proxy addresses/networks whose X-Forwarded-For is believed (default none)",
    ),
    Option(
        "beacon_turfs",
        "TENT_BEACON_TURFS",
        _turfs,
        "comma-separated bare domains the signed manifest vouches for (default: the entity's host)",
    ),
    Option(
        "beacon_timeout",
        "TENT_BEACON_TIMEOUT",
        float,
        "seconds allowed for checking a turf named by an authorization request (default 5)",
    ),
    Option("log_level", "TENT_LOG_LEVEL", str, "DEBUG, INFO (default), WARNING or ERROR"),
    Option("log_format", "TENT_LOG_FORMAT", str, "'text' (default) or 'json' (one JSON object a line)"),
    Option(
        "metrics_token",
        "TENT_METRICS_TOKEN",
        str,
        "bearer token that /metrics asks for; unset = no /metrics (default)",
    ),
)


@functools.lru_cache(maxsize=16)
def _entity_parts(entity: str) -> tuple[str, str, int]:
    """(path prefix, host, port) of the entity URL, remembered: every request asks for them,
    and `SplitResult.hostname` and `.port` parse the network location again each time."""
    parts = urlsplit(entity)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.path.rstrip("/"), (parts.hostname or "").lower(), port


@dataclass(frozen=True, slots=True)
class Settings:
    entity: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str | None = None
    data_dir: Path = Path("tent-data")
    app_approval: str = "owner"
    allow_private_addresses: bool = False
    delivery_retry_base: float = 15.0
    delivery_give_up_after: float = 7 * 24 * 3600.0
    outgoing_timeout: float = 20.0
    max_body_size: int = 1024 * 1024
    max_attachment_size: int = 100 * 1024 * 1024
    db_pool_size: int = 10
    workers: int = 1
    trusted_proxies: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_token: str | None = field(default=None, repr=False)  # a secret: kept out of reprs
    beacon_turfs: tuple[str, ...] = ()
    beacon_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.entity:
            host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
            object.__setattr__(self, "entity", f"http://{host}:{self.port}")
        try:
            check_entity(self.entity)
        except ValueError as exc:
            raise ValueError(f"TENT_ENTITY: {exc}") from None
        if self.app_approval not in ("owner", "auto"):
            raise ValueError("TENT_APP_APPROVAL must be 'owner' or 'auto'")
        if self.log_format not in ("text", "json"):
            raise ValueError("TENT_LOG_FORMAT must be 'text' or 'json'")
        if self.workers < 1:
            raise ValueError("TENT_WORKERS must be at least 1")
        if self.max_body_size < 1024:
            raise ValueError("TENT_MAX_BODY_SIZE must be at least 1024")
        try:
            turfs = tuple(check_turf(t) for t in self.beacon_turfs)
        except ValueError as exc:
            raise ValueError(f"TENT_BEACON_TURFS: {exc}") from None
        object.__setattr__(self, "beacon_turfs", turfs)
        if self.beacon_timeout <= 0:
            raise ValueError("TENT_BEACON_TIMEOUT must be positive")

    @property
    def root(self) -> str:
        """Base of every endpoint URL: the entity URL (so a path-prefixed entity works)."""
        return self.entity

    @property
    def path_prefix(self) -> str:
        return _entity_parts(self.entity)[0]

    @property
    def public_host(self) -> str:
        """Host the clients sign Hawk requests for (the entity's, not the bind address)."""
        return _entity_parts(self.entity)[1]

    @property
    def turfs(self) -> tuple[str, ...]:
        """The domains the manifest signs: configured, else the entity's host when it is one."""
        if self.beacon_turfs:
            return self.beacon_turfs
        try:
            return (check_turf(self.public_host),)
        except ValueError:
            return ()

    @property
    def public_port(self) -> int:
        return _entity_parts(self.entity)[2]

    def replace(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        if "port" in changes and "entity" not in changes and self._entity_was_default():
            values["entity"] = ""
        return Settings(**values)

    def _entity_was_default(self) -> bool:
        host = "localhost" if self.host in ("0.0.0.0", "::", "") else self.host
        return self.entity == f"http://{host}:{self.port}"


def settings_from(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Environment first, then explicit overrides (CLI flags); None overrides are ignored."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        raw = env.get(opt.env)
        if raw not in (None, ""):
            try:
                values[opt.field] = opt.parse(raw)
            except ValueError as exc:
                raise ValueError(f"{opt.env}: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
