"""Campaign pages: list, compose (live count, preview, exact cost), send, watch, retry."""

from __future__ import annotations

from flask import Blueprint, Response, g, request, stream_with_context, url_for
from werkzeug.datastructures import MultiDict

from astronote.auth import load_shop
from astronote.errors import ValidationFailed
from astronote.htmx import STOP_POLLING, redirect_to, render, toast
from astronote.models import CampaignStatus
from astronote.services.campaigns import composer
from astronote.services.campaigns import lifecycle as campaigns
from astronote.services.campaigns import stats as campaign_stats
from astronote.services.credits import InsufficientCredits
from astronote.services.discounts import codes as discount_codes
from astronote.services.discounts import picker as discount_picker_service
from astronote.services.discounts import settings as unique_codes
from astronote.services.sending import provider, throttle
from astronote.services.templates import saved as template_uses
from astronote.tasks import enqueue_safely
from astronote.tasks.campaigns import fan_out, start_scheduled
from astronote.views.paging import after_cursor
from astronote.views.test_sends import test_send_reply
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")
bp.before_request(load_shop)
LIVE = (CampaignStatus.SENDING, CampaignStatus.SCHEDULED)  # the progress fragment polls


@bp.app_template_global("campaign_starting")
def _campaign_starting(campaign) -> bool:
    return campaigns.is_starting(campaign)


@bp.app_template_filter("shop_time")
def _shop_time(moment) -> str:
    return composer.local_time(g.shop, moment)


@bp.get("")
def index():
    status = request.args.get("status", "")
    status = status if status in {s.value for s in CampaignStatus} else ""
    page = campaign_stats.list_campaigns(g.shop, after_id=after_cursor(), status=status or None)
    return render(
        "campaigns/index.html",
        partial="campaigns/_table.html",
        page=page,
        status_filter=status,
        statuses=composer.status_options(),
    )


def _compose_page(campaign=None, form=None, errors=None, status=200):
    return render(
        "campaigns/form.html",
        partial="campaigns/_form.html",
        status=status,
        campaign=campaign,
        form=form if form is not None else MultiDict(),
        errors=errors or {},
        **composer.choices(g.shop),
    )


@bp.get("/new")
def new():
    return _compose_page()


def _save(campaign=None):
    intent = request.form.get("intent", "draft")
    intent = intent if intent in composer.INTENTS else "draft"
    try:
        with unit_of_work():
            draft = composer.parse_compose(g.shop, request.form, intent)
            campaign = campaigns.save(g.shop, draft, campaign)
            template_uses.count_use(g.shop, request.form.get("template"))
    except ValidationFailed as exc:
        return _compose_page(campaign, request.form, exc.field_errors, status=422)
    if intent == "review":
        return redirect_to(url_for("campaigns.confirm", campaign_id=campaign.id))
    done = "Campaign scheduled" if intent == "schedule" else "Draft saved"
    return toast(redirect_to(url_for("campaigns.show", campaign_id=campaign.id)), done)


@bp.post("")
def create():
    return _save()


@bp.get("/<int:campaign_id>/edit")
def edit(campaign_id: int):
    campaign = campaigns.get(g.shop, campaign_id)
    campaigns.ensure_editable(campaign)
    return _compose_page(campaign, composer.form_of(g.shop, campaign))


@bp.post("/<int:campaign_id>")
def update(campaign_id: int):
    return _save(campaigns.get(g.shop, campaign_id, for_update=True))


@bp.get("/audience-count")
def audience_count():
    return render("campaigns/_audience_count.html", **composer.audience_count(g.shop, request.args))


@bp.post("/preview")
def preview():
    return render("campaigns/_preview.html", p=composer.preview(g.shop, request.form))


@bp.get("/discounts")
def discount_picker():
    """The composer's picker: the shop's Shopify code discounts, loaded when opened."""
    page = discount_picker_service.page(g.shop, request.args.get("q"), request.args.get("after"))
    return render("campaigns/_discount_picker.html", p=page)


@bp.get("/discounts/use")
def discount_use():
    """The code field filled with the picked discount's code (still free to edit)."""
    code = (request.args.get("discount_code") or "").strip()[:64]
    return render("campaigns/_discount_field.html", form={"discount_code": code}, errors={})


@bp.get("/<int:campaign_id>")
def show(campaign_id: int):
    campaign = campaigns.get(g.shop, campaign_id)
    context = _progress_context(campaign)
    shortfall = composer.scheduled_shortfall(g.shop, campaign)
    return render(
        "campaigns/show.html", campaign=campaign, errors={}, form={}, shortfall=shortfall, **context
    )


def _progress_context(campaign) -> dict:
    counts = campaign_stats.counts(campaign)
    reasons = campaign_stats.failure_reasons(campaign) if counts["failed"] else []
    return {
        "counts": counts,
        "reasons": reasons,
        "live": campaign.status in LIVE,
        "starting": campaigns.is_starting(campaign),
        "discount": unique_codes.of(campaign.id),
        "throttling": campaign.status == CampaignStatus.SENDING
        and throttle.is_throttling(provider.traffic_account()),
    }


@bp.get("/<int:campaign_id>/progress")
def progress(campaign_id: int):
    campaign = campaigns.get(g.shop, campaign_id)  # reads only: the batch or reconciler closes it
    context = _progress_context(campaign)
    return render(
        "campaigns/_progress.html",
        status=200 if context["live"] else STOP_POLLING,
        campaign=campaign,
        **context,
    )


def _confirm_page(campaign, error=None, status=200):
    return render(
        "campaigns/confirm.html",
        partial="campaigns/_confirm.html",
        status=status,
        campaign=campaign,
        error=error,
        **composer.confirmation(g.shop, campaign),
    )


@bp.get("/<int:campaign_id>/send")
def confirm(campaign_id: int):
    return _confirm_page(campaigns.get(g.shop, campaign_id))


@bp.post("/<int:campaign_id>/send")
def send_now(campaign_id: int):
    campaign = campaigns.get(g.shop, campaign_id)
    if request.form.get("confirm") != "yes":
        return _confirm_page(campaign, "Check the recipients and cost, then confirm.", 422)
    plan = composer.confirmation(g.shop, campaign)  # 409 unless draft or scheduled
    if not plan["enough"]:  # checked again, exactly, when the task reserves the credits
        error = InsufficientCredits(plan["cost"], plan["balance"].available).message
        return _confirm_page(campaign, error, 402)
    with unit_of_work():
        campaigns.start_soon(campaign)
    enqueue_safely(start_scheduled, campaign.id)  # else the minutely scheduler starts it
    people = plan["recipients"]
    message = f"Sending to {people:,} recipients" if people else campaigns.NOBODY
    return toast(redirect_to(url_for("campaigns.show", campaign_id=campaign.id)), message)


def _action(campaign_id: int, change, message: str):
    with unit_of_work():  # a refused transition or reservation leaves nothing behind
        campaign = campaigns.get(g.shop, campaign_id)
        change(campaign)
    if campaign.status == CampaignStatus.SENDING:
        fan_out(campaign.id)
    return toast(redirect_to(url_for("campaigns.show", campaign_id=campaign.id)), message)


@bp.post("/<int:campaign_id>/pause")
def pause(campaign_id: int):
    return _action(campaign_id, campaigns.pause, "Campaign paused")


@bp.post("/<int:campaign_id>/resume")
def resume(campaign_id: int):
    return _action(campaign_id, campaigns.resume, "Campaign resumed")


@bp.post("/<int:campaign_id>/cancel")
def cancel(campaign_id: int):
    return _action(campaign_id, campaigns.cancel, "Campaign cancelled")


@bp.post("/<int:campaign_id>/retry-failed")
def retry_failed(campaign_id: int):
    # InsufficientCredits (402) and InvalidTransition (409) reach the error handler.
    retry = lambda campaign: campaigns.retry_failed(g.shop, campaign)  # noqa: E731
    return _action(campaign_id, retry, "Retrying the failed messages")


@bp.post("/<int:campaign_id>/resend-not-sent")
def resend_not_sent(campaign_id: int):
    # InsufficientCredits (402) and InvalidTransition (409) reach the error handler.
    resend = lambda campaign: campaigns.resend_not_sent(g.shop, campaign)  # noqa: E731
    return _action(campaign_id, resend, "Resending the messages that were never sent")


def _test_send(body, discount, test_url: str):
    phone = request.form.get("test_phone")
    return test_send_reply(lambda: composer.queue_test(g.shop, body, discount, phone), test_url)


@bp.post("/test-send")
def test_send_draft():
    """The compose page's "Send test": the message as typed; nothing is saved."""
    form, url = request.form, url_for("campaigns.test_send_draft")
    discount = form.get("discount_code")
    if form.get("unique_codes") == "on":  # shows where each recipient's own code goes
        discount = discount_codes.SAMPLE
    return _test_send(form.get("body"), discount, url)


@bp.post("/<int:campaign_id>/test-send")
def test_send(campaign_id: int):
    campaign = campaigns.get(g.shop, campaign_id)
    url = url_for("campaigns.test_send", campaign_id=campaign.id)
    return _test_send(campaign.body, unique_codes.pricing_code(campaign), url)


@bp.get("/<int:campaign_id>/failed.csv")
def failed_csv(campaign_id: int):
    campaign = campaigns.get(g.shop, campaign_id)

    filename = f"campaign-{campaign.id}-failed.csv"
    return Response(
        stream_with_context(composer.failed_csv_lines(campaign)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
