"""The RAYNET instances the web app serves, looked up per request."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from webhook.raynet.schemas import MAX_ID
from webhook.wiring import Instance

EXTENSION = "instances"


class IdConverter(IntegerConverter):
    """``<id:case_id>``: a record id; one past 64 bits is a 400, not a crash in SQLite."""

    def to_python(self, value: str) -> Any:
        number = super().to_python(value)
        if number > MAX_ID:
            raise BadRequest(f"{value} is not an id: larger than 64 bits")
        return number


def bounded(name: str, default: int, most: int = MAX_ID) -> int:
    """A non-negative integer query parameter, or a 400 that names it."""
    value = request.args.get(name, default, type=int)
    if not 0 <= value <= most:
        abort(400, f"{name} must be between 0 and {most}")
    return value


def instances() -> dict[str, Instance]:
    """Every instance, by name ("" for the environment's own)."""
    found: dict[str, Instance] = current_app.extensions[EXTENSION]
    return found


def instance(name: str | None = None) -> Instance:
    """The instance ``name``, or the one the request names, or the default (404 if none)."""
    everyone = instances()
    if name is None:
        name = (request.view_args or {}).get("instance") or request.args.get("instance")
    if name is None:
        name = "" if "" in everyone else next(iter(everyone))
    found = everyone.get(name)
    if found is None:
        abort(404, f"no instance {name!r} here")
    return found
