"""Requests that follow a link without a person behind them: redirected, never counted.

Link previews fetch a URL the moment a message is shown or shared:
  iMessage (LinkPresentation): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1)
      AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4
      facebookexternalhit/1.1 Facebot Twitterbot/1.0"
  WhatsApp: "WhatsApp/2.23.20.0 A" (Signal's previews send "WhatsApp/2" too)
  Slack: "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "Slack-ImgProxy"
  Facebook: "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
  Twitter/X: "Twitterbot/1.0"; Telegram: "TelegramBot (like TwitterBot)"
  Discord: "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"
  Skype/Teams: "... SkypeUriPreview Preview/0.5"
Crawlers name themselves "<Name>bot/<version>" (Googlebot/2.1, bingbot/2.0) and
usually carry a "+http..." info URL. A bare "bot" substring is not enough: phones
such as the CUBOT P40 carry it in an ordinary browser's agent.
Browsers mark speculative loads with Sec-Purpose/Purpose: prefetch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

# Lower-case substrings; each is one C-level search, so the whole list costs microseconds.
PREVIEW_TOKENS = (
    "facebookexternalhit", "facebot", "facebookcatalog", "meta-externalagent", "twitterbot",
    "whatsapp", "slackbot", "slack-imgproxy", "telegrambot", "discordbot", "skypeuripreview",
    "linkedinbot", "pinterest", "redditbot", "embedly", "iframely", "vkshare", "viber",
    "snap url preview", "applebot", "google-pagerenderer", "googleother", "bitlybot",
    "mastodon", "bluesky", "cardyb", "linkpreview", "unfurl", "crawler", "spider",
    "+http", "headlesschrome", "curl/", "wget/", "python-requests", "go-http-client",
    "okhttp", "java/",
)  # fmt: skip
NAMED_BOT = re.compile(r"bot/\d")  # "Googlebot/2.1", "bingbot/2.0"
PREFETCH = re.compile(r"prefetch|preview|prerender", re.IGNORECASE)


@lru_cache(maxsize=4096)
def automated_agent(user_agent: str) -> bool:
    """A previewer's or crawler's agent (cached: the same few agents come back all day)."""
    agent = user_agent.lower()
    return any(token in agent for token in PREVIEW_TOKENS) or bool(NAMED_BOT.search(agent))


def is_automated(method: str, user_agent: str | None, headers: Mapping[str, str]) -> bool:
    """True for HEAD, for a previewer or crawler, for a prefetch, and for no agent at all."""
    if method != "GET":
        return True
    if not user_agent or automated_agent(user_agent[:512]):
        return True
    for name in ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"):
        value = headers.get(name)
        if value and PREFETCH.search(value):
            return True
    return False
