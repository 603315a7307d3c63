"""RAYNET CRM → Money S3 bridge: won deals become Money S3 received orders."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from webhook.admin import init_admin
from webhook.button import bp as button_bp
from webhook.config import Settings, load_instances
from webhook.receiver import Services
from webhook.receiver import bp as receiver_bp
from webhook.runtime import (
    build_raynet_client,
    build_target,
    build_worker,
    open_queue_and_records,
)

log = logging.getLogger(__name__)


def create_app(config: Settings | Mapping[str, Settings] | None = None) -> Flask:
    """The web application for one instance's settings, or for several by name.

    Without arguments: every instance of ``load_instances()`` (the environment, and
    ``BRIDGE_CONFIG``). Refuses to start without ``WEBHOOK_TOKEN``.
    """
    if config is None:
        config = load_instances()
    instances = {config.instance: config} if isinstance(config, Settings) else dict(config)
    app = Flask(__name__)
    registry: dict[str, Services] = {}
    for name, settings in instances.items():
        settings.check_receiver()
        if settings.webhook_token is None:
            log.warning("WEBHOOK_ALLOW_NO_TOKEN=1: webhooks are accepted WITHOUT a token")
        registry[name] = _services(settings)
    first = next(iter(instances.values()))
    app.config["MAX_CONTENT_LENGTH"] = max(s.webhook_max_body for s in instances.values())
    app.extensions["bridge"] = registry
    app.register_blueprint(receiver_bp)
    app.register_blueprint(button_bp)
    init_admin(app, first)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _services(settings: Settings) -> Services:
    """One instance's queue, records, target and on-demand worker."""
    queue, records = open_queue_and_records(settings)
    destination = build_target(settings)
    raynet = build_raynet_client(settings) if settings.raynet else None
    worker = build_worker(settings, queue, records, destination, raynet) if raynet else None
    return Services(
        settings=settings,
        queue=queue,
        records=records,
        target=destination,
        worker=worker,
        raynet=raynet,
    )


def _http_error(error: HTTPException) -> tuple[Response, int]:
    """Every HTTP error as JSON (413 too large, 404, 405, ...)."""
    code = error.code or 500
    return jsonify(
        error=(error.name or "error").lower().replace(" ", "_"), message=error.description
    ), code
