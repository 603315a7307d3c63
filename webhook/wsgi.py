"""WSGI entry point for gunicorn: ``gunicorn webhook.wsgi:app``."""

from webhook import create_app

app = create_app()
