"""Offline access tokens: encrypted at rest, refreshed before expiry and on a 401.

Refreshes are serialised per shop with a row lock (PostgreSQL), because Shopify
rotates the refresh token on every use.

Transaction owner: each refresh commits at once, because the old refresh token is spent.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from typing import TypeVar

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import select

from astronote.errors import AstronoteError
from astronote.extensions import db
from astronote.integrations.shopify.admin_api import AdminApiClient, AdminApiUnauthorized
from astronote.integrations.shopify.oauth import (
    AccessToken,
    ShopifyAuthError,
    ShopifyOAuthClient,
)
from astronote.models import Shop

T = TypeVar("T")
log = logging.getLogger("astronote.shopify")


class ShopNotConnected(AstronoteError):
    """No usable offline token: the merchant must open the app again to reinstall."""

    status = 409


def _fernet() -> MultiFernet:
    keys = current_app.config["TOKEN_ENCRYPTION_KEYS"]
    if not keys:  # development and tests only; production requires explicit keys
        digest = hashlib.sha256(("tokens:" + current_app.config["SECRET_KEY"]).encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(value: str | None) -> str | None:
    return _fernet().encrypt(value.encode()).decode() if value else None


def decrypt(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken:
        log.error("stored token cannot be decrypted: check TOKEN_ENCRYPTION_KEYS")
        return None


def oauth_client() -> ShopifyOAuthClient:
    config = current_app.config
    return ShopifyOAuthClient(
        config["SHOPIFY_API_KEY"], config["SHOPIFY_API_SECRET"], config["SHOPIFY_ADMIN_BASE_URL"]
    )


def admin_client() -> AdminApiClient:
    return AdminApiClient(current_app.config["SHOPIFY_ADMIN_BASE_URL"])


def store(shop: Shop, token: AccessToken) -> None:
    shop.access_token_enc = encrypt(token.access_token)
    shop.access_token_expires_at = token.expires_at
    shop.refresh_token_enc = encrypt(token.refresh_token)
    shop.refresh_token_expires_at = token.refresh_token_expires_at
    shop.scopes = token.scope


def drop(shop: Shop) -> None:
    shop.access_token_enc = shop.refresh_token_enc = None
    shop.access_token_expires_at = shop.refresh_token_expires_at = None


def _current(shop: Shop) -> AccessToken | None:
    access = decrypt(shop.access_token_enc)
    if access is None:
        return None
    return AccessToken(
        access_token=access,
        scope=shop.scopes or "",
        expires_at=shop.access_token_expires_at,
        refresh_token=decrypt(shop.refresh_token_enc),
        refresh_token_expires_at=shop.refresh_token_expires_at,
    )


def _locked(shop: Shop) -> Shop:
    query = select(Shop).filter_by(id=shop.id).with_for_update()
    return db.session.execute(query.execution_options(populate_existing=True)).scalar_one()


def refresh(shop: Shop) -> AccessToken:
    """Rotate the token pair under the shop's row lock, and commit at once.

    Committing here is deliberate: the old refresh token is spent as soon as
    Shopify answers, so the new pair must survive whatever the caller does next.
    """
    shop = _locked(shop)
    current = _current(shop)
    if current is None or current.refresh_token is None:
        db.session.rollback()
        raise ShopNotConnected("This shop must open Astronote again to reconnect to Shopify.")
    try:
        token = oauth_client().refresh(shop.shop_domain, current.refresh_token)
    except ShopifyAuthError:
        drop(shop)
        db.session.commit()
        raise ShopNotConnected("Shopify refused the refresh token; open Astronote again.") from None
    store(shop, token)
    db.session.commit()
    return token


def access_token(shop: Shop) -> str:
    """A usable offline token, refreshed when it is about to expire."""
    token = _current(shop)
    if token is None:
        raise ShopNotConnected("This shop is not connected to Shopify.")
    if token.needs_refresh():
        token = refresh(shop)
    return token.access_token


def with_admin_api(shop: Shop, call: Callable[[AdminApiClient, str], T]) -> T:
    """Run `call(client, token)`; on a 401 refresh once and try again."""
    client = admin_client()
    try:
        return call(client, access_token(shop))
    except AdminApiUnauthorized:
        return call(client, refresh(shop).access_token)
