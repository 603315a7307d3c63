"""WSGI entry point for gunicorn: ``gunicorn webhook.wsgi:app``."""

from webhook import create_app
from webhook.config import load_instances
from webhook.observability import configure_logging

instances = load_instances()
first = next(iter(instances.values()))
configure_logging(first.log_level, first.log_json)
app = create_app(instances)
