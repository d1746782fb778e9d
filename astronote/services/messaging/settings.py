"""Messaging rules a merchant controls (docs/COMPLIANCE.md): parse, validate, apply.

Quiet hours, frequency cap, opt-out text, help text, double opt-in, extra keywords
and the numbers that route replies to the shop. Every field is validated at once and
reported per field; nothing is written unless the whole form is valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time

from sqlalchemy import delete, select

from astronote.errors import ValidationFailed
from astronote.extensions import db
from astronote.models import Shop, ShopSenderNumber
from astronote.services.contacts.phones import InvalidPhone, normalize_phone
from astronote.services.messaging import keywords
from astronote.services.messaging.segments import segment_count

MAX_FREQUENCY_CAP = 168  # one week
CLICK_DAYS = (1, 30)  # revenue attribution: a click this many days before the order
DELIVERY_HOURS = (0, 168)  # else a delivery this many hours before it (0: off)
OPT_OUT_MODES = {"reply": "Reply STOP to opt out", "link": "A personal unsubscribe link"}
HELP_MAX_CHARS = 160
HELP_COLUMN = 300  # Shop.help_text
HELP_PLACEHOLDER = keywords.HELP_PLACEHOLDER
KEYWORD_MAX_LENGTH = 16  # InboundMessage.keyword
MAX_EXTRA_KEYWORDS = 20
MAX_SENDER_NUMBERS = 20
NUMBER_COLUMN = 16  # ShopSenderNumber.number
TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])(?::[0-5][0-9](?:\.[0-9]+)?)?")
LIST_SEPARATORS = re.compile(r"[,;\n\r]+")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
# Opt-out instructions name a stop word in capitals, as carriers expect ("Reply STOP ...").
OPT_OUT_WORD = re.compile(r"\b(" + "|".join(keywords.DEFAULTS["stop"]) + r")\b")
CHECKED = {"on", "1", "true", "yes"}
ACTION_LABELS = {"stop": "STOP (opt out)", "start": "START (opt back in)", "help": "HELP"}


def keyword_field(action: str) -> str:
    return f"keywords_{action}"


@dataclass
class MessagingRules:
    quiet_start: time
    quiet_end: time
    transactional_ignores_quiet_hours: bool
    frequency_cap_hours: int
    opt_out_mode: str
    help_text: str | None
    double_opt_in: bool
    keywords: dict[str, list[str]] = field(default_factory=dict)  # extras only, normalised
    sender_numbers: list[str] = field(default_factory=list)  # E.164
    attribution_click_days: int = 5
    attribution_delivery_hours: int = 24


def extras_of(shop: Shop) -> dict[str, list[str]]:
    """The merchant's extra keywords per action (the defaults are implied, never stored)."""
    stored = shop.keywords or {}
    return {
        action: [w for w in stored.get(action, []) if w not in keywords.DEFAULTS[action]]
        for action in keywords.ACTIONS
    }


def sender_numbers_of(shop: Shop) -> list[str]:
    return list(
        db.session.execute(
            select(ShopSenderNumber.number)
            .filter_by(shop_id=shop.id)
            .order_by(ShopSenderNumber.number)
        ).scalars()
    )


def form_of(shop: Shop) -> dict[str, str]:
    """The shop's current rules as form values."""
    values = {
        "quiet_start": shop.quiet_start.strftime("%H:%M"),
        "quiet_end": shop.quiet_end.strftime("%H:%M"),
        "transactional_ignores_quiet_hours": "on" if shop.transactional_ignores_quiet_hours else "",
        "frequency_cap_hours": str(shop.frequency_cap_hours),
        "opt_out_mode": shop.opt_out_mode,
        "help_text": shop.help_text or "",
        "double_opt_in": "on" if shop.double_opt_in else "",
        "sender_numbers": "\n".join(sender_numbers_of(shop)),
        "attribution_click_days": str(shop.attribution_click_days),
        "attribution_delivery_hours": str(shop.attribution_delivery_hours),
    }
    for action, words in extras_of(shop).items():
        values[keyword_field(action)] = ", ".join(words)
    return values


# --------------------------------------------------------------------------- parsing


def _text(form, name: str) -> str:
    return (form.get(name) or "").strip()


def _checked(form, name: str) -> bool:
    return _text(form, name).lower() in CHECKED


def _time(form, name: str, errors: dict[str, str]) -> time | None:
    match = TIME.fullmatch(_text(form, name))
    if match is None:
        errors[name] = "Enter a time such as 08:00 (24-hour clock)."
        return None
    return time(int(match.group(1)), int(match.group(2)))


def _frequency_cap(form, errors: dict[str, str]) -> int | None:
    raw = _text(form, "frequency_cap_hours")
    if not re.fullmatch(r"[0-9]{1,3}", raw) or int(raw) > MAX_FREQUENCY_CAP:
        errors["frequency_cap_hours"] = (
            f"Enter a whole number of hours from 0 to {MAX_FREQUENCY_CAP} (0 turns the cap off)."
        )
        return None
    return int(raw)


def _whole_number(form, name: str, bounds: tuple[int, int], unit: str, errors, current: int):
    """A bounded whole number; a form without the field (an older page) keeps `current`."""
    if name not in form:
        return current
    raw, (low, high) = _text(form, name), bounds
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not low <= int(raw) <= high:
        errors[name] = f"Enter a whole number of {unit} from {low} to {high}."
        return None
    return int(raw)


def _opt_out_mode(form, errors: dict[str, str]) -> str | None:
    mode = _text(form, "opt_out_mode")
    if mode not in OPT_OUT_MODES:
        errors["opt_out_mode"] = "Choose how contacts opt out."
        return None
    return mode


def _help_text(shop: Shop, form, errors: dict[str, str]) -> str | None:
    """Empty means the default text. Else: names the shop, says how to opt out, one SMS."""
    text = re.sub(r"\s+", " ", _text(form, "help_text"))
    if not text:
        return None
    unknown = [p for p in PLACEHOLDER.findall(text) if p != HELP_PLACEHOLDER]
    rendered = keywords.render_help(shop, text)
    if unknown:
        problem = f"Only {HELP_PLACEHOLDER} can be filled in; remove {', '.join(unknown)}."
    elif len(text) > HELP_COLUMN or len(rendered) > HELP_MAX_CHARS:
        problem = (
            f"Keep it to {HELP_MAX_CHARS} characters with your shop name filled in "
            f"(it is {len(rendered)})."
        )
    elif segment_count(rendered) > 1:
        problem = (
            "It must fit in one SMS: characters outside the GSM alphabet (emoji, curly quotes) "
            "cut a message to 70 characters."
        )
    elif HELP_PLACEHOLDER not in text and shop.display_name.lower() not in text.lower():
        problem = f"Name your shop: write {HELP_PLACEHOLDER} where its name should appear."
    elif not OPT_OUT_WORD.search(text):
        problem = "Say how to opt out in capitals, for example “Reply STOP to opt out”."
    else:
        return text
    errors["help_text"] = problem
    return None


def _keywords(form, errors: dict[str, str]) -> dict[str, list[str]]:
    """Extra words per action, normalised like inbound text; defaults are never removed."""
    extras: dict[str, list[str]] = {}
    for action in keywords.ACTIONS:
        name, words, problem = keyword_field(action), [], None
        for raw in LIST_SEPARATORS.split(form.get(keyword_field(action)) or ""):
            raw = raw.strip()
            if not raw:
                continue
            word = keywords.normalise(raw)
            if not word:
                problem = f"“{raw[:20]}” has no letters or digits."
            elif len(word) > KEYWORD_MAX_LENGTH:
                problem = f"“{word[:20]}…” is too long: at most {KEYWORD_MAX_LENGTH} characters."
            elif word not in keywords.DEFAULTS[action] and word not in words:
                words.append(word)
            if problem:
                break
        if problem is None and len(words) > MAX_EXTRA_KEYWORDS:
            problem = f"Add at most {MAX_EXTRA_KEYWORDS} extra keywords."
        if problem:
            errors[name] = problem
        extras[action] = words
    # One word, one meaning: an extra may not repeat another action's default or extra.
    for action, words in extras.items():
        name = keyword_field(action)
        if name in errors:
            continue
        for word in words:
            other = next(
                (
                    a
                    for a in keywords.ACTIONS
                    if a != action and (word in keywords.DEFAULTS[a] or word in extras[a])
                ),
                None,
            )
            if other is not None:
                errors[name] = f"{word} already means {ACTION_LABELS[other]}."
                break
    return extras


def _sender_numbers(shop: Shop, form, errors: dict[str, str]) -> list[str]:
    numbers: list[str] = []
    for raw in LIST_SEPARATORS.split(form.get("sender_numbers") or ""):
        raw = raw.strip()
        if not raw:
            continue
        try:
            number = normalize_phone(raw, shop.default_region)
        except InvalidPhone as exc:
            errors["sender_numbers"] = (
                f"{exc} Use international format such as +14155550123, one number per line."
            )
            return []
        if len(number) > NUMBER_COLUMN:
            errors["sender_numbers"] = f"{number} is too long for a phone number."
            return []
        if number not in numbers:
            numbers.append(number)
    if len(numbers) > MAX_SENDER_NUMBERS:
        errors["sender_numbers"] = f"List at most {MAX_SENDER_NUMBERS} numbers."
        return []
    taken = taken_numbers(shop, numbers)
    if taken:
        errors["sender_numbers"] = (
            f"{', '.join(taken)} already receive{'s' if len(taken) == 1 else ''} replies for "
            "another shop. A number can belong to only one shop; contact support if it is yours."
        )
        return []
    return numbers


def taken_numbers(shop: Shop, numbers: list[str]) -> list[str]:
    """Which of these numbers another shop owns."""
    if not numbers:
        return []
    return sorted(
        db.session.execute(
            select(ShopSenderNumber.number).where(
                ShopSenderNumber.number.in_(numbers), ShopSenderNumber.shop_id != shop.id
            )
        ).scalars()
    )


def validate(shop: Shop, form) -> MessagingRules:
    """Parse the messaging-rules form; raise ValidationFailed with every field's problem."""
    errors: dict[str, str] = {}
    quiet_start = _time(form, "quiet_start", errors)
    quiet_end = _time(form, "quiet_end", errors)
    cap = _frequency_cap(form, errors)
    mode = _opt_out_mode(form, errors)
    help_text = _help_text(shop, form, errors)
    extras = _keywords(form, errors)
    numbers = _sender_numbers(shop, form, errors)
    click_days = _whole_number(
        form, "attribution_click_days", CLICK_DAYS, "days", errors, shop.attribution_click_days
    )
    delivery_hours = _whole_number(
        form,
        "attribution_delivery_hours",
        DELIVERY_HOURS,
        "hours",
        errors,
        shop.attribution_delivery_hours,
    )
    if errors:
        raise ValidationFailed(errors)
    return MessagingRules(
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        transactional_ignores_quiet_hours=_checked(form, "transactional_ignores_quiet_hours"),
        frequency_cap_hours=cap,
        opt_out_mode=mode,
        help_text=help_text,
        double_opt_in=_checked(form, "double_opt_in"),
        keywords=extras,
        sender_numbers=numbers,
        attribution_click_days=click_days,
        attribution_delivery_hours=delivery_hours,
    )


def apply(shop: Shop, rules: MessagingRules) -> None:
    """Write the rules. Caller commits; a number claimed concurrently by another shop fails
    the commit with IntegrityError (never a silent reassignment): validate again to report it.
    """
    shop.quiet_start = rules.quiet_start
    shop.quiet_end = rules.quiet_end
    shop.transactional_ignores_quiet_hours = rules.transactional_ignores_quiet_hours
    shop.frequency_cap_hours = rules.frequency_cap_hours
    shop.opt_out_mode = rules.opt_out_mode
    shop.help_text = rules.help_text
    shop.double_opt_in = rules.double_opt_in
    extras = {action: words for action, words in rules.keywords.items() if words}
    shop.keywords = extras or None
    shop.attribution_click_days = rules.attribution_click_days
    shop.attribution_delivery_hours = rules.attribution_delivery_hours
    current = set(sender_numbers_of(shop))
    wanted = set(rules.sender_numbers)
    if current - wanted:
        db.session.execute(
            delete(ShopSenderNumber).where(
                ShopSenderNumber.shop_id == shop.id,
                ShopSenderNumber.number.in_(sorted(current - wanted)),
            )
        )
    for number in sorted(wanted - current):
        db.session.add(ShopSenderNumber(number=number, shop_id=shop.id))
    db.session.flush()
