"""The RAYNET instances one deployment serves: the environment's, or ``BRIDGE_CONFIG``'s.

Each ``[instances.<name>]`` table of the TOML file sets the same variables as the
environment, on top of it; the start-up check refuses instances that would share state, a
target, a token or an order-number prefix.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from webhook.errors import ConfigError
from webhook.moneys3.numbering import OrderNumbering
from webhook.settings.environment import Settings, load_settings

INSTANCE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# One dashboard, one set of rate limits and one proxy in front of all instances.
SHARED_ONLY = ("ADMIN_TOKEN", "ADMIN_COOKIE_SECURE", "RATE_LIMIT_STORAGE", "TRUSTED_PROXIES")


def load_instances(environ: Mapping[str, str] | None = None) -> dict[str, Settings]:
    """Every RAYNET instance this deployment serves, by name.

    Without ``BRIDGE_CONFIG`` that is the one instance the environment describes (name "").
    With it, each ``[instances.<name>]`` table of the TOML file sets the same variables as
    the environment, on top of it (a value ``"${VAR}"`` is read from the environment, so
    secrets need not be in the file); the environment's own instance is served too when
    ``WEBHOOK_TOKEN`` is set there. Instances never share a state file, a target or a token.
    """
    environ = os.environ if environ is None else environ
    path = (environ.get("BRIDGE_CONFIG") or "").strip()
    if not path:
        return {"": load_settings(environ)}
    instances: dict[str, Settings] = {}
    if (environ.get("WEBHOOK_TOKEN") or "").strip():
        instances[""] = load_settings(environ)
    problems: list[str] = []
    for name, table in _read_bridge_config(Path(path), environ).items():
        try:
            instances[name] = replace(load_settings({**environ, **table}), instance=name)
        except ConfigError as error:
            problems.append(f"[instances.{name}] {error}")
    if problems:
        raise ConfigError(f"BRIDGE_CONFIG {path}: " + "; ".join(problems))
    _check_apart(instances)
    return instances


def _read_bridge_config(path: Path, environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"BRIDGE_CONFIG: cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"BRIDGE_CONFIG: {path} is not valid TOML: {error}") from None
    tables = document.get("instances")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"BRIDGE_CONFIG: {path} has no [instances.<name>] tables")
    instances: dict[str, dict[str, str]] = {}
    for name, table in tables.items():
        where = f"BRIDGE_CONFIG [instances.{name}]"
        if not INSTANCE_NAME.match(name) or not isinstance(table, dict):
            raise ConfigError(f"{where}: a name is lower-case letters, digits and dashes")
        values: dict[str, str] = {}
        for key, value in table.items():
            if key in SHARED_ONLY:
                raise ConfigError(
                    f"{where}: {key} is shared by all instances; set it in the environment"
                )
            values[key] = _expand(_as_text(value), environ, f"{where} {key}")
        instances[name] = values
    return instances


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _expand(value: str, environ: Mapping[str, str], where: str) -> str:
    match = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value.strip())
    if match is None:
        return value
    if match[1] not in environ:
        raise ConfigError(f"{where}: the environment has no {match[1]}")
    return environ[match[1]]


def _check_apart(instances: dict[str, Settings]) -> None:
    """Two instances sharing their state, a target or a token would see each other's cases;
    sharing an order-number prefix, their long case codes could get one Money number.

    The state is where each instance keeps it: the SQLite file, or (with ``QUEUE_URL``)
    the queue and the table.
    """
    for label, key in (
        ("STATE_DB", lambda s: None if s.queue_url else str(s.state_db.resolve())),
        ("QUEUE_URL", lambda s: s.queue_url),
        ("STATE_TABLE", lambda s: s.state_table),
        ("EXPORT_TARGET", lambda s: s.export_target.rstrip("/")),
        ("WEBHOOK_TOKEN", lambda s: s.webhook_token),
        (
            "MONEY_S3_ORDER_PREFIX",  # Doklad of long case codes: R#<id> in both otherwise
            lambda s: s.order_prefix if s.order_numbering is OrderNumbering.CASE else None,
        ),
    ):
        seen: dict[str, str] = {}
        for name, settings in instances.items():
            value = key(settings)
            if value is None:
                continue
            if value in seen:
                raise ConfigError(
                    f"BRIDGE_CONFIG: instances {seen[value] or '(environment)'!r} "
                    f"and {name or '(environment)'!r} share {label}; each needs "
                    "its own"
                )
            seen[value] = name
