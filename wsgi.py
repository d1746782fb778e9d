"""gunicorn entry point: `gunicorn wsgi:app`."""

from astronote import create_app

app = create_app()
