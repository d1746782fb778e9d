"""Verify App Bridge session (ID) tokens: every rule in shopify.dev, plus iss == dest.

PyJWT does the signature and time checks; the claim checks that Shopify's own
Python helper omits (issuer and destination must name the same shop) live here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt

LEEWAY_SECONDS = 10
REQUIRED_CLAIMS = ("iss", "dest", "aud", "sub", "exp", "nbf", "iat", "jti", "sid")
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]\.myshopify\.com$")


class InvalidSessionToken(Exception):
    """The token is missing, malformed, forged, expired or for another app."""


@dataclass(frozen=True)
class ShopSession:
    shop_domain: str
    user_id: str
    token: str


def is_shop_domain(value: str) -> bool:
    return bool(SHOP_DOMAIN.match(value or ""))


def _shop_from_url(url: object) -> str:
    parts = urlsplit(url if isinstance(url, str) else "")
    if parts.scheme != "https" or not is_shop_domain(parts.hostname or ""):
        raise InvalidSessionToken("dest/iss is not an https *.myshopify.com URL")
    return parts.hostname


def decode_session_token(token: str, api_key: str, secrets: list[str]) -> ShopSession:
    """Return the verified session, or raise InvalidSessionToken."""
    last_error: Exception | None = None
    for secret in (s for s in secrets if s):
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=api_key,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
            break
        except jwt.InvalidSignatureError as exc:
            last_error = exc  # maybe signed with the previous secret during rotation
        except jwt.PyJWTError as exc:
            raise InvalidSessionToken(str(exc)) from exc
    else:
        raise InvalidSessionToken(f"bad signature: {last_error}")
    shop = _shop_from_url(claims["dest"])
    if _shop_from_url(claims["iss"]) != shop:
        raise InvalidSessionToken("iss and dest name different shops")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise InvalidSessionToken("sub must be a non-empty string")
    return ShopSession(shop_domain=shop, user_id=claims["sub"], token=token)
