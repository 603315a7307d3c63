"""The web side: the Flask app factory and what it serves.

``receiver.py`` takes RAYNET's webhooks (and answers probes and metrics), ``button.py`` the
Export button inside RAYNET, ``admin.py`` the dashboard and its JSON API; ``registry.py``
finds the RAYNET instance a request is for.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from webhook.errors import QueueUnavailable
from webhook.settings.environment import Settings
from webhook.settings.instances import load_instances
from webhook.settings.wiring import build_instance
from webhook.web.admin import init_admin
from webhook.web.button import bp as button_bp
from webhook.web.receiver import bp as receiver_bp
from webhook.web.registry import EXTENSION, IdConverter

log = logging.getLogger(__name__)


def create_app(*served: Settings) -> Flask:
    """The web application for the instances with these settings, each under its name.

    Without arguments: every instance of ``load_instances()`` (the environment, and
    ``BRIDGE_CONFIG``). Refuses to start without ``WEBHOOK_TOKEN``.
    """
    settings_by_name = {s.instance: s for s in served or load_instances().values()}
    app = Flask(__name__)
    app.url_map.converters["id"] = IdConverter
    for settings in settings_by_name.values():
        settings.check_receiver()
        if settings.webhook_token is None:
            log.warning("WEBHOOK_ALLOW_NO_TOKEN=1: webhooks are accepted WITHOUT a token")
    app.extensions[EXTENSION] = {
        name: build_instance(settings) for name, settings in settings_by_name.items()
    }
    first = next(iter(settings_by_name.values()))
    app.config["MAX_CONTENT_LENGTH"] = max(s.webhook_max_body for s in settings_by_name.values())
    app.register_blueprint(receiver_bp)
    app.register_blueprint(button_bp)
    init_admin(app, first)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(QueueUnavailable, _unavailable)
    return app


def _unavailable(error: QueueUnavailable) -> tuple[Response, int]:
    """The state cannot be read or written (a deleted or damaged file, SQS down): 503."""
    log.error("state unavailable: %s", error)
    response = jsonify(error="unavailable", message=str(error))
    response.headers["Retry-After"] = "30"
    return response, 503


def _http_error(error: HTTPException) -> tuple[Response, int]:
    """Every HTTP error as JSON (413 too large, 404, 405, ...)."""
    code = error.code or 500
    return jsonify(
        error=(error.name or "error").lower().replace(" ", "_"), message=error.description
    ), code
