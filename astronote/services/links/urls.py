"""Finding the http(s) URLs in a message, and the target a click is sent to.

A URL runs to the next whitespace; punctuation that ends a sentence is not part of
it ("Shop now: https://x.com/sale." ends at "sale"), nor is a closing bracket
without its opening one. A URL holding a placeholder ("{{...}}") is not ours to
shorten: its target differs per recipient.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
TRAILING = ".,;:!?'\"*_~\u2026"
BRACKETS = {")": "(", "]": "[", "}": "{"}
UTM_SOURCE = "sms"
UTM_MEDIUM = "astronote"
# Characters a Location header may carry as they are (RFC 3986 reserved and unreserved,
# and "%" so the merchant's own escapes stay); everything else is percent-encoded.
SAFE = "!#$%&'()*+,-./:;=?@[]_~"


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        unbalanced = last in BRACKETS and url.count(BRACKETS[last]) < url.count(last)
        if last not in TRAILING and not unbalanced:
            break
        url = url[:-1]
    return url


def find(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of each shortenable URL in the text, in order."""
    found = []
    for match in URL.finditer(text):
        url = _trim(match.group(0))
        if "{{" in url or "}}" in url or not urlsplit(url).hostname:
            continue
        found.append((match.start(), match.start() + len(url), url))
    return found


def distinct(text: str) -> list[str]:
    """The text's URLs, each once, in order of first use."""
    seen: dict[str, None] = {}
    for _, _, url in find(text):
        seen.setdefault(url, None)
    return list(seen)


def _ascii(url: str) -> str:
    """An IRI as a URI a header can carry: IDNA host, percent-encoded path and query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = quote(host, safe="")
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if parts.username is not None:  # kept as written: the merchant put it there
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    rest = urlunsplit(("", "", parts.path, parts.query, parts.fragment))
    return f"{parts.scheme.lower()}://{netloc}{quote(rest, safe=SAFE)}"


def with_utm(url: str, campaign: str) -> str:
    """The target with utm_source, utm_medium and utm_campaign added where the merchant
    did not set them. The merchant's own query is kept byte for byte."""
    url = _ascii(url)
    base, hash_, fragment = url.partition("#")
    path, question, query = base.partition("?")
    present = {pair.split("=", 1)[0].lower() for pair in query.split("&") if pair}
    wanted = (("utm_source", UTM_SOURCE), ("utm_medium", UTM_MEDIUM), ("utm_campaign", campaign))
    added = [f"{k}={quote(v, safe='')}" for k, v in wanted if v and k not in present]
    if not added:
        return url
    joined = "&".join(([query] if query else []) + added)
    return f"{path}?{joined}{hash_}{fragment}"
