"""What a message box may use, and the template behind a pick.

A box is the campaign composer ("campaign") or one flow's editor (its key). A template
fits a box when its message passes the box's own check: a campaign has no trigger
placeholders, a flow has its own (an order number fits order confirmation only).
"""

from __future__ import annotations

from dataclasses import dataclass

from astronote.errors import NotFound
from astronote.models import Shop
from astronote.services.automations.catalogue import FLOWS
from astronote.services.messaging import rendering
from astronote.services.templates import library, saved

CAMPAIGN = "campaign"


@dataclass(frozen=True)
class Choice:
    ref: str  # "lib:<key>" or "own:<id>": what the form carries to count the use
    name: str
    use_case: str
    body: str
    uses: int
    own: bool


def placeholders_of(box: str) -> tuple[str, ...]:
    """The trigger placeholders the box allows; NotFound for a box that does not exist."""
    if box == CAMPAIGN:
        return ()
    if box not in FLOWS:
        raise NotFound("That message editor does not exist.")
    return FLOWS[box].event_variables


def all_choices(shop: Shop) -> list[Choice]:
    """The shop's own templates, then the library, each with this shop's usage count."""
    uses = saved.library_uses(shop)
    own = [
        Choice(f"own:{t.id}", t.name, t.use_case, t.body, t.uses, True) for t in saved.all_for(shop)
    ]
    ready = [
        Choice(f"lib:{t.key}", t.name, t.use_case, t.body, uses.get(t.key, 0), False)
        for t in library.TEMPLATES.values()
    ]
    return own + ready


def by_use_case(choices: list[Choice], first: str | None = None) -> list[tuple[str, list]]:
    """(use case title, its choices) in page order; `first` (a flow's own) leads."""
    order = list(library.USE_CASES)
    if first in order:
        order.remove(first)
        order.insert(0, first)
    groups = {key: [] for key in order}
    for choice in choices:
        groups.get(choice.use_case, groups["other"]).append(choice)
    return [(library.USE_CASES[key], groups[key]) for key in order if groups[key]]


def for_box(shop: Shop, box: str) -> list[tuple[str, list]]:
    extra = placeholders_of(box)
    fits = [c for c in all_choices(shop) if rendering.body_problem(c.body, extra=extra) is None]
    return by_use_case(fits, first=box)


def picked(shop: Shop, box: str, ref: str) -> Choice:
    """The template a pick names, if it fits the box; NotFound otherwise."""
    extra = placeholders_of(box)
    kind, _, value = ref.partition(":")
    if kind == "lib" and (template := library.get(value)) is not None:
        choice = Choice(ref, template.name, template.use_case, template.body, 0, False)
    elif kind == "own" and value.isascii() and value.isdigit() and len(value) < 19:
        template = saved.get(shop, int(value))
        choice = Choice(ref, template.name, template.use_case, template.body, 0, True)
    else:
        raise NotFound("That template does not exist.")
    if rendering.body_problem(choice.body, extra=extra) is not None:
        raise NotFound("That template does not fit this message.")
    return choice
