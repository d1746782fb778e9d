"""STOP / START / HELP: recognise a keyword reply, case- and punctuation-insensitively."""

from __future__ import annotations

import re
import unicodedata

from astronote.models import Shop

DEFAULTS = {
    "stop": ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"),
    "start": ("START", "UNSTOP", "YES"),
    "help": ("HELP", "INFO"),
}
ACTIONS = tuple(DEFAULTS)
DEFAULT_HELP = "{shop}: SMS marketing. Msg & data rates may apply. Reply STOP to opt out."


def normalise(text: str) -> str:
    """'  Stop. ' -> 'STOP'; accents and punctuation never hide a keyword."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^A-Z0-9]", "", letters.upper())


def keyword_sets(shop: Shop) -> dict[str, tuple[str, ...]]:
    """The shop's keywords per action; merchants may add words but never drop STOP."""
    custom = shop.keywords or {}
    sets = {}
    for action, words in DEFAULTS.items():
        extra = tuple(normalise(w) for w in custom.get(action, []) if normalise(w))
        sets[action] = tuple(dict.fromkeys(words + extra))
    return sets


def classify(shop: Shop, text: str) -> tuple[str, str] | None:
    """(action, keyword) when the whole message is a keyword, else None."""
    word = normalise(text)
    if not word:
        return None
    for action, words in keyword_sets(shop).items():
        if word in words:
            return action, word
    return None


HELP_PLACEHOLDER = "{shop}"


def render_help(shop: Shop, text: str) -> str:
    return text.replace(HELP_PLACEHOLDER, shop.display_name)


def help_text(shop: Shop) -> str:
    return render_help(shop, shop.help_text or DEFAULT_HELP)


def confirmation(shop: Shop, action: str) -> str:
    name = shop.display_name
    if action == "stop":
        return f"{name}: You are unsubscribed and will get no more messages. Reply START to rejoin."
    if action == "start":
        return f"{name}: You are subscribed again. Reply STOP to opt out, HELP for help."
    return help_text(shop)
