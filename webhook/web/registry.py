"""The RAYNET instances the web app serves, looked up per request."""

from __future__ import annotations

from flask import abort, current_app, request

from webhook.settings.wiring import Instance

EXTENSION = "instances"


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
