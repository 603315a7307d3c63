"""RAYNET CRM → Money S3 bridge: won deals become Money S3 received orders."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from webhook.admin import init_admin
from webhook.button import bp as button_bp
from webhook.config import Settings, load_settings
from webhook.delivery import Target
from webhook.jobs.store import StateStore
from webhook.receiver import Services
from webhook.receiver import bp as receiver_bp
from webhook.runtime import build_raynet_client, build_target, build_worker, open_store

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    store: StateStore | None = None,
    target: Target | None = None,
) -> Flask:
    """The web application; refuses to start without ``WEBHOOK_TOKEN``."""
    settings = settings or load_settings()
    settings.check_receiver()
    if settings.webhook_token is None:
        log.warning("WEBHOOK_ALLOW_NO_TOKEN=1: webhooks are accepted WITHOUT a token")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_body
    store = store or open_store(settings)
    target = target or build_target(settings)
    raynet = build_raynet_client(settings) if settings.raynet else None
    app.extensions["bridge"] = Services(
        settings=settings,
        store=store,
        target=target,
        worker=build_worker(settings, store, target, raynet) if raynet else None,
        raynet=raynet,
    )
    app.register_blueprint(receiver_bp)
    app.register_blueprint(button_bp)
    init_admin(app, settings)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _http_error(error: HTTPException) -> tuple[Response, int]:
    """Every HTTP error as JSON (413 too large, 404, 405, ...)."""
    code = error.code or 500
    return jsonify(
        error=(error.name or "error").lower().replace(" ", "_"), message=error.description
    ), code
