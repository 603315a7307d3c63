"""WSGI entry point for gunicorn: ``gunicorn webhook.wsgi:app``."""

from webhook import create_app
from webhook.config import load_settings
from webhook.observability import configure_logging

settings = load_settings()
configure_logging(settings.log_level, settings.log_json)
app = create_app(settings)
