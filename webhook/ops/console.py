"""What every command shares: the instance it is about, one-line errors, exit codes.

Exit codes: 0 done, 1 failed (the reason is one line on stderr), 2 configuration or usage
error, 3 the business case is not exportable (not won, no products).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from webhook.errors import BridgeError, ConfigError
from webhook.settings.environment import Settings
from webhook.settings.instances import load_instances
from webhook.wording import escaped

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_NOT_EXPORTABLE = 3
F = TypeVar("F", bound=Callable[..., Any])


def shown(text: str) -> str:
    """A line as a terminal may print it: line breaks, escape sequences and other control or
    format characters (a direction override) are written as escapes, never sent raw."""
    return escaped(text)


def say(*lines: str, err: bool = False) -> None:
    """Print each of ``lines`` on a line of its own, ``shown``: a value from RAYNET, a file
    or a setting never drives the terminal (a case code with CR/LF, an OSC sequence)."""
    click.echo("\n".join(shown(line) for line in lines), err=err)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    say(f"error: {message}", err=True)
    sys.exit(code)


def reports_errors(command: F) -> F:
    """Turn the bridge's errors into one line on stderr and the documented exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as error:
            fail(str(error), EXIT_CONFIG)
        except BridgeError as error:
            fail(str(error))

    return wrapper  # type: ignore[return-value]


def chosen_settings() -> Settings:
    """The settings of the instance ``--instance`` names, or of the only one there is."""
    wanted = (click.get_current_context().find_root().obj or {}).get("instance")
    instances = load_instances()
    names = ", ".join(name or "(environment)" for name in instances)
    if wanted is None:
        if len(instances) == 1:
            return next(iter(instances.values()))
        raise ConfigError(
            f"several instances are configured ({names}): choose one with --instance NAME"
        )
    if wanted not in instances:
        raise ConfigError(f"--instance {wanted}: no such instance (configured: {names})")
    return instances[wanted]
