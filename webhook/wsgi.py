"""WSGI entry point for gunicorn: ``gunicorn webhook.wsgi:app``."""

from webhook.observability import configure_logging
from webhook.settings.instances import load_instances
from webhook.web import create_app

instances = load_instances()
first = next(iter(instances.values()))
configure_logging(first.log_level, first.log_json)
app = create_app(*instances.values())
