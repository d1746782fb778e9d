"""Automations pages: the flows with their switches and results, and each flow's editor."""

from __future__ import annotations

from flask import Blueprint, g, request, url_for

from astronote.auth import load_shop
from astronote.errors import ValidationFailed
from astronote.htmx import redirect_to, render, toast
from astronote.services.automations import editor, settings
from astronote.services.automations import stats as flow_stats
from astronote.services.automations.catalogue import FLOWS
from astronote.services.templates import saved as template_uses
from astronote.views.test_sends import test_send_reply
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("automations", __name__, url_prefix="/automations")
bp.before_request(load_shop)


@bp.context_processor
def _helpers() -> dict:
    return {"delay_words": settings.delay_words}


def _period() -> str:
    period = request.args.get("period", flow_stats.DEFAULT_PERIOD)
    return period if period in flow_stats.PERIODS else flow_stats.DEFAULT_PERIOD


def _results_context() -> dict:
    period = _period()
    return {
        "period": period,
        "periods": flow_stats.PERIODS,
        "outcomes": flow_stats.outcomes(g.shop, period),
        "reason_label": flow_stats.reason_label,
    }


@bp.get("")
def index():
    return render(
        "automations/index.html",
        flows=FLOWS,
        rows=settings.all_for(g.shop),
        waiting=flow_stats.waiting(g.shop),
        **_results_context(),
    )


@bp.get("/results")
def results():
    """The results card alone, for the period picker."""
    return render("automations/_results.html", flows=FLOWS, **_results_context())


@bp.post("/<flow_key>/switch")
def switch(flow_key: str):
    """Set a flow on or off; htmx swaps the switch alone, a plain form post goes back."""
    on = request.form.get("enabled") == "1"
    with unit_of_work():
        row = settings.switch(g.shop, flow_key, on)
    done = f"{FLOWS[flow_key].title} switched {'on' if on else 'off'}"
    if request.headers.get("HX-Request"):
        return toast(render("automations/_switch.html", flow=FLOWS[flow_key], row=row), done)
    return toast(redirect_to(url_for("automations.index")), done)


def _editor_page(flow_key: str, form=None, errors=None, status=200):
    flow = settings.flow_or_404(flow_key)
    row = settings.one(g.shop, flow_key)
    return render(
        "automations/edit.html",
        partial="automations/_form.html",
        status=status,
        flow=flow,
        row=row,
        form=form if form is not None else editor.form_of(flow, row),
        errors=errors or {},
        **editor.choices(g.shop, flow),
    )


@bp.get("/<flow_key>")
def edit(flow_key: str):
    return _editor_page(flow_key)


@bp.post("/<flow_key>")
def update(flow_key: str):
    flow = settings.flow_or_404(flow_key)
    if request.form.get("intent") == "default":  # shown, not saved: "Save" keeps it
        return _editor_page(flow_key, editor.with_default_copy(flow, request.form))
    try:
        with unit_of_work():
            settings.save(g.shop, flow_key, settings.parse(flow, request.form))
            template_uses.count_use(g.shop, request.form.get("template"))
    except ValidationFailed as exc:
        return _editor_page(flow_key, request.form, exc.field_errors, status=422)
    target = url_for("automations.edit", flow_key=flow_key)
    return toast(redirect_to(target), f"{flow.title} saved")


@bp.post("/<flow_key>/preview")
def preview(flow_key: str):
    flow = settings.flow_or_404(flow_key)
    return render("automations/_preview.html", p=editor.preview(g.shop, flow, request.form))


@bp.post("/<flow_key>/test-send")
def test_send(flow_key: str):
    flow = settings.flow_or_404(flow_key)
    url = url_for("automations.test_send", flow_key=flow_key)
    return test_send_reply(lambda: editor.queue_test(g.shop, flow, request.form), url)
