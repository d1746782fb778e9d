"""Token exchange and refresh for expiring offline access tokens (no database access).

Hand-written on `requests` rather than shopifyapp 1.0.2's exchange helpers: those hard-code
`https://{shop}.myshopify.com` (refresh) or derive the URL from the token's `dest` (exchange),
so only a URL-rewriting httpx transport could point them at SHOPIFY_ADMIN_BASE_URL; they also
retry internally (exchange `time.sleep()`s on 429 inside the web request, refresh re-posts on
5xx), stamp expiries as strings from the wall clock, and refresh silently no-ops on tokens it
thinks are still valid. Shopify's wire format is small and stable (reference §1.2, §1.4),
so we own ~60 lines instead.

Callers pass a session token already verified by session_tokens.py and the shop from its
`dest`, never from the query string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests

from astronote.integrations.shopify.session_tokens import is_shop_domain

DEFAULT_ADMIN_BASE_TEMPLATE = "https://{shop}"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
# shopify-app-js refreshes when under 5 minutes remain; so do we (reference §1.4).
REFRESH_MARGIN = timedelta(minutes=5)


class ShopifyOAuthError(Exception):
    """Base class; `status` is the HTTP status (0 for network errors), `error` Shopify's code."""

    def __init__(self, message: str, *, status: int = 0, error: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error


class ShopifyAuthError(ShopifyOAuthError):
    """Permanent: bad subject/refresh token or credentials. Retrying won't help; re-install."""


class ShopifyRetryableError(ShopifyOAuthError):
    """Transient: network error, timeout, 429 or 5xx. Safe to retry later."""

    def __init__(self, message: str, *, status: int = 0, retry_after: float | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after


def utcnow() -> datetime:
    return datetime.now(UTC)


def admin_base_url(template: str, shop: str) -> str:
    """Substitute the shop into the admin base template; the shop must be *.myshopify.com."""
    # The shop ends up in a URL we POST our client secret to, so never trust it unchecked.
    if not is_shop_domain(shop):
        raise ValueError(f"not a *.myshopify.com shop domain: {shop!r}")
    # str.replace, not str.format: a template may legitimately contain other braces.
    return template.replace("{shop}", shop).rstrip("/")


@dataclass(frozen=True)
class AccessToken:
    # repr=False: these dataclasses end up in logs and tracebacks; tokens must not.
    access_token: str = field(repr=False)
    scope: str
    expires_at: datetime | None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_token_expires_at: datetime | None = None

    def needs_refresh(self, now: datetime | None = None) -> bool:
        """True when the access token expires within REFRESH_MARGIN (never for legacy tokens)."""
        if self.expires_at is None:
            return False
        return self.expires_at - (now or utcnow()) <= REFRESH_MARGIN


def _after(now: datetime, seconds: object) -> datetime | None:
    return now + timedelta(seconds=int(seconds)) if seconds is not None else None


def parse_token_response(body: dict, now: datetime) -> AccessToken:
    """Build an AccessToken from Shopify's JSON; expiries are relative to `now`."""
    if not isinstance(body, dict) or not body.get("access_token"):
        raise ShopifyOAuthError("token response has no access_token", status=200)
    return AccessToken(
        access_token=body["access_token"],
        scope=body.get("scope", ""),
        expires_at=_after(now, body.get("expires_in")),
        refresh_token=body.get("refresh_token"),
        refresh_token_expires_at=_after(now, body.get("refresh_token_expires_in")),
    )


class ShopifyOAuthClient:
    """Stateless client for `/admin/oauth/access_token`. It never retries by itself: the
    caller holds the per-shop refresh lock and decides (refresh tokens rotate)."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        admin_base_template: str = DEFAULT_ADMIN_BASE_TEMPLATE,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5, 15),
        clock: Callable[[], datetime] = utcnow,
    ):
        self.api_key = api_key
        self._api_secret = api_secret
        self.admin_base_template = admin_base_template
        self.session = session or requests.Session()
        self.timeout = timeout
        self.clock = clock

    def exchange_id_token(self, shop: str, id_token: str) -> AccessToken:
        """Exchange a *verified* session token for an expiring offline token."""
        return self._request_token(
            shop,
            {
                "grant_type": TOKEN_EXCHANGE_GRANT,
                "subject_token": id_token,
                "subject_token_type": ID_TOKEN_TYPE,
                "requested_token_type": OFFLINE_TOKEN_TYPE,
                "expiring": 1,
            },
        )

    def refresh(self, shop: str, refresh_token: str) -> AccessToken:
        """Trade a refresh token for a new access token and a new (rotated) refresh token."""
        return self._request_token(
            shop,
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            },
        )

    def _request_token(self, shop: str, grant: dict) -> AccessToken:
        url = admin_base_url(self.admin_base_template, shop) + "/admin/oauth/access_token"
        body = {"client_id": self.api_key, "client_secret": self._api_secret, **grant}
        now = self.clock()
        try:
            response = self.session.post(
                url, json=body, timeout=self.timeout, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            # Only the exception class: its text can echo the URL or request details.
            raise ShopifyRetryableError(f"token request failed: {type(exc).__name__}") from exc
        return _handle_response(response, now)


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _handle_response(response: requests.Response, now: datetime) -> AccessToken:
    status = response.status_code
    if status == 200:
        return parse_token_response(_json(response), now)
    if status == 429 or status >= 500:
        raise ShopifyRetryableError(
            f"token endpoint answered {status}", status=status, retry_after=_retry_after(response)
        )
    body = _json(response)
    error = str(body.get("error") or f"http_{status}")
    detail = str(body.get("error_description") or "")[:200]
    raise ShopifyAuthError(
        f"token request rejected: {error} {detail}".strip(), status=status, error=error
    )
