"""Astronote: SMS marketing for Shopify merchants. `create_app` only wires parts."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from astronote.config import load_config


def create_app(overrides: Mapping | None = None) -> Flask:
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_mapping(load_config())
    if overrides:
        app.config.from_mapping(overrides)

    from werkzeug.middleware.proxy_fix import ProxyFix

    from astronote import cli, errors, logging, security, tasks
    from astronote.extensions import db, htmx, migrate

    if app.config["PROXY_HOPS"]:  # trust X-Forwarded-* only from our own load balancer
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    logging.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    htmx.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    tasks.configure(app)
    register_blueprints(app)
    return app


def register_blueprints(app: Flask) -> None:
    from astronote import views
    from astronote.views import (
        automations,
        billing,
        campaigns,
        contacts,
        dev,
        health,
        home,
        imports,
        inbox,
        links,
        provider_callbacks,
        public,
        reports,
        settings,
        submissions,
        templates,
        webhooks,
    )

    views.init_app(app)
    for module in (
        health,
        home,
        contacts,
        imports,
        campaigns,
        automations,
        inbox,
        submissions,
        billing,
        settings,
        webhooks,
        provider_callbacks,
        public,
        links,
        reports,
        templates,
    ):
        app.register_blueprint(module.bp)
    # The development sign-in exists only in development; production never registers it.
    if app.config["ASTRONOTE_ENV"] == "development":
        app.register_blueprint(dev.bp)
