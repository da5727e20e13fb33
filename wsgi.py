"""WSGI entry point: `gunicorn wsgi:app`."""

from creditapp import create_app

app = create_app()
