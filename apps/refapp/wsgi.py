"""The WSGI entry point role app_service runs: ``gunicorn wsgi:application`` in the release."""

from pdic_refapp.app import create_app

application = create_app()
