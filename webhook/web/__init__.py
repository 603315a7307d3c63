"""The web side: the Flask app factory and what it serves.

``receiver.py`` takes RAYNET's webhooks, ``probes.py`` answers health probes and metrics,
``button.py`` the Export button inside RAYNET; ``admin.py`` guards the dashboard, whose
pages are in ``pages.py``, ``inbox.py`` and ``bulk.py`` and its JSON API in
``admin_api.py``; ``registry.py`` finds the RAYNET instance a request is for;
``language.py``, ``error_pages.py``, ``security.py`` and ``limits.py`` apply to every
answer. ``gunicorn_worker.py`` is how gunicorn serves it all.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from flask import Flask, abort
from werkzeug.middleware.proxy_fix import ProxyFix

from webhook.settings.environment import Settings
from webhook.settings.instances import load_instances
from webhook.web import admin_api, bulk, inbox, money_reports, pages, unreadable  # noqa: F401
from webhook.web.admin import init_admin
from webhook.web.button import init_button, over_the_limit
from webhook.web.error_pages import init_errors
from webhook.web.language import init_language
from webhook.web.limits import (
    BUTTON_PER_ADDRESS,
    LOGIN_OVERALL,
    LOGIN_PER_ADDRESS,
    init_limits,
    limit,
)
from webhook.web.probes import bp as probes_bp
from webhook.web.receiver import bp as receiver_bp
from webhook.web.registry import EXTENSION, IdConverter
from webhook.web.security import init_security
from webhook.wiring import build_instance

log = logging.getLogger(__name__)


def create_app(*served: Settings) -> Flask:
    """The web application for the instances with these settings, each under its name.

    Without arguments: every instance of ``load_instances()`` (the environment, and
    ``BRIDGE_CONFIG``). Refuses to start without ``WEBHOOK_TOKEN``.
    """
    settings_by_name = {s.instance: s for s in served or load_instances().values()}
    app = Flask(__name__, static_url_path="/admin/static")  # behind the proxy's /admin/
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
    if first.trusted_proxies:  # believe the proxy's X-Forwarded-For (limits), -Proto (cookies)
        proxies = first.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.register_blueprint(receiver_bp)
    app.register_blueprint(probes_bp)
    init_language(app, first.language)
    init_button(app)
    init_admin(app, first)
    init_limits(
        app,
        first.rate_limit_storage_uri(),
        [
            limit("button.press", ("GET", "POST"), BUTTON_PER_ADDRESS, None, over_the_limit),
            limit("admin.login", ("POST",), LOGIN_PER_ADDRESS, LOGIN_OVERALL, _too_many_tries),
        ],
    )
    init_security(app)
    init_errors(app)
    return app


def _too_many_tries() -> NoReturn:
    abort(429)
