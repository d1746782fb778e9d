"""`flask astronote ...` commands for operators and the embedded default."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

group = AppGroup("astronote", help="Astronote operations.")


@group.command("seed-demo")
@click.option("--contacts", default=300, show_default=True, help="How many demo contacts.")
def seed_demo(contacts: int) -> None:
    """Create the demo shop with realistic contacts, once."""
    from astronote.devtools.demo import seed_demo_shop

    shop, created = seed_demo_shop(contacts)
    click.echo(f"demo shop {shop.shop_domain}: {'created' if created else 'already present'}")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
