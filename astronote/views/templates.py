"""Templates page (the library and the shop's own), and "Use template" for message boxes."""

from __future__ import annotations

from flask import Blueprint, g, request, url_for
from werkzeug.datastructures import MultiDict

from astronote.auth import load_shop
from astronote.errors import NotFound, ValidationFailed
from astronote.htmx import redirect_to, render, toast
from astronote.services.messaging import rendering
from astronote.services.templates import library, picking, saved
from astronote.views.unit_of_work import unit_of_work

bp = Blueprint("message_templates", __name__, url_prefix="/templates")
bp.before_request(load_shop)


@bp.context_processor
def _helpers() -> dict:
    return {"uses_text": uses_text}


def uses_text(uses: int) -> str:
    if uses == 0:
        return "Not used yet"
    return "Used once" if uses == 1 else f"Used {uses:,} times"


@bp.get("")
def index():
    groups = picking.by_use_case(picking.all_choices(g.shop))
    return render("message_templates/index.html", groups=groups)


def _form_page(template=None, form=None, errors=None, status=200):
    return render(
        "message_templates/form.html",
        partial="message_templates/_form.html",
        status=status,
        item=template,
        form=form if form is not None else MultiDict(),
        errors=errors or {},
        use_cases=list(library.USE_CASES.items()),
        variables=rendering.VARIABLES,
        opt_out=rendering.opt_out_text(g.shop),
    )


def _copy_of(ref: str) -> MultiDict:
    """A new template's fields: a copy of the template named, else empty."""
    try:
        choice = picking.picked(g.shop, picking.CAMPAIGN, ref) if ref else None
    except NotFound:
        choice = None
    if choice is None:
        use_case = request.args.get("use_case", "")
        return MultiDict({"use_case": use_case if use_case in library.USE_CASES else "sale"})
    name = f"{choice.name} (copy)"[: saved.MAX_NAME]
    return MultiDict({"name": name, "use_case": choice.use_case, "body": choice.body})


@bp.get("/new")
def new():
    return _form_page(form=_copy_of(request.args.get("from", "")))


def _save(template=None):
    try:
        with unit_of_work():
            data = saved.parse(request.form)
            template = saved.save(g.shop, data, template)
    except ValidationFailed as exc:
        return _form_page(template, request.form, exc.field_errors, status=422)
    return toast(
        redirect_to(url_for("message_templates.index")), f"Template “{data['name']}” saved"
    )


@bp.post("")
def create():
    return _save()


@bp.get("/<int:template_id>")
def edit(template_id: int):
    template = saved.get(g.shop, template_id)
    form = MultiDict({"name": template.name, "use_case": template.use_case, "body": template.body})
    return _form_page(template, form)


@bp.post("/<int:template_id>")
def update(template_id: int):
    return _save(saved.get(g.shop, template_id))


@bp.post("/<int:template_id>/delete")
def remove(template_id: int):
    with unit_of_work():
        name = saved.remove(g.shop, template_id)
    return toast(redirect_to(url_for("message_templates.index")), f"Template “{name}” deleted")


@bp.get("/pick/<box>")
def picker(box: str):
    """The templates that fit one message box (the composer, a flow's editor)."""
    groups = picking.for_box(g.shop, box)
    return render("message_templates/_picker.html", groups=groups, box=box)


@bp.get("/pick/<box>/use")
def use(box: str):
    """The message box filled with the picked template, and the pick kept in the form."""
    choice = picking.picked(g.shop, box, request.args.get("ref", ""))
    return render(
        "message_templates/_use.html", choice=choice, opt_out=rendering.opt_out_text(g.shop)
    )
