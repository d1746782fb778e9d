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


@group.command("grant-credits")
@click.argument("shop_domain")
@click.argument("amount", type=click.IntRange(1, 10_000_000))
@click.option("--note", default="Granted by an operator", show_default=True)
def grant_credits(shop_domain: str, amount: int, note: str) -> None:
    """Add AMOUNT credits to SHOP_DOMAIN (support, refunds, test shops)."""
    import uuid

    from astronote.extensions import db
    from astronote.services import credits
    from astronote.services.shopify import shops

    shop = shops.find(shop_domain)
    if shop is None:
        raise click.ClickException(f"no shop {shop_domain}")
    entry = credits.grant(shop.id, amount, f"cli:{uuid.uuid4().hex}", note)
    db.session.commit()
    click.echo(f"{shop_domain}: +{amount} credits, {entry.available_after} available")


@group.command("unrouted")
@click.option("--limit", default=50, show_default=True)
def unrouted(limit: int) -> None:
    """List inbound messages that could not be routed to a shop (newest first)."""
    from sqlalchemy import select

    from astronote.extensions import db
    from astronote.models import InboundMessage

    rows = db.session.execute(
        select(InboundMessage)
        .where(InboundMessage.shop_id.is_(None))
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    ).scalars()
    for row in rows:
        click.echo(
            f"{row.received_at:%Y-%m-%d %H:%M} {row.from_number} -> {row.to_number}: "
            f"{row.text[:80]!r}"
        )


webhooks = AppGroup("webhooks", help="Shopify webhook deliveries that failed.")
group.add_command(webhooks)


@webhooks.command("list")
@click.option(
    "--status",
    type=click.Choice(["dead", "received"]),
    default="dead",
    show_default=True,
    help="dead: out of attempts; received: still to apply (or being retried).",
)
@click.option("--limit", default=50, show_default=True)
def webhooks_list(status: str, limit: int) -> None:
    """List webhook events by status, newest first, with their last error."""
    from astronote.services.shopify import webhook_events

    events = webhook_events.listing(status, limit)
    for event in events:
        click.echo(
            f"{event.id}\t{event.received_at:%Y-%m-%d %H:%M}\t{event.topic}\t"
            f"{event.shop_domain}\tattempts={event.attempts}\t{event.error or ''}"
        )
    if not events:
        click.echo(f"no {status} webhook events")


@webhooks.command("replay")
@click.argument("event_id", type=int)
def webhooks_replay(event_id: int) -> None:
    """Apply a dead webhook event again, now, with a fresh set of attempts."""
    from astronote.extensions import db
    from astronote.services.shopify import webhook_events
    from astronote.tasks.shopify import apply_webhook

    try:
        webhook_events.reset_for_replay(event_id)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    status = apply_webhook(event_id)
    event = db.session.get(webhook_events.WebhookEvent, event_id)
    if status != webhook_events.PROCESSED:
        raise click.ClickException(
            f"event {event_id} failed again: {event.error} (attempt {event.attempts} of "
            f"{webhook_events.MAX_ATTEMPTS}; the sweeper retries it until then)"
        )
    click.echo(f"event {event_id} ({event.topic}): processed")


@group.group("reports")
def reports() -> None:
    """Reports: the daily rollup (services/reports)."""


@reports.command("backfill")
@click.option("--shop", "shop_domain", default=None, help="Only this shop (myshopify domain).")
def reports_backfill(shop_domain: str | None) -> None:
    """Rebuild the rollup's message, click and consent counters from the base tables."""
    from astronote.services.reports import backfill

    if not backfill.run_all(shop_domain, echo=click.echo) and shop_domain:
        raise click.ClickException(f"no shop {shop_domain}")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
