"""Every setting Astronote reads from the environment, parsed in one place.

`load_config()` returns a plain mapping for Flask; `create_app` hands the queue's part
to `tasks.configure`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT_DIR / "instance"
ENVIRONMENTS = ("development", "test", "production")

# Production refuses to start without these; a missing one is a deployment bug.
REQUIRED_IN_PRODUCTION = (
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "SHOPIFY_API_KEY",
    "SHOPIFY_API_SECRET",
    "SHOPIFY_APP_URL",
    "MITTO_API_KEY",
    "MITTO_TRAFFIC_ACCOUNT_ID",
    "TOKEN_ENCRYPTION_KEYS",
    "MITTO_WEBHOOK_SECRET",
)

DEV_SECRET = "dev-only-insecure-secret"


class ConfigError(RuntimeError):
    """Raised when the environment cannot produce a safe configuration."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _prices(raw: str) -> dict[str, int]:
    """CREDIT_PRICES as JSON, e.g. {"GB": 3, "DE": 4}: country code to credits per segment."""
    if not raw.strip():
        return {}
    try:
        prices = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"CREDIT_PRICES must be a JSON object, got {raw!r}") from exc
    valid = isinstance(prices, dict) and all(
        isinstance(k, str) and len(k) == 2 and isinstance(v, int) and 0 < v <= 100
        for k, v in prices.items()
    )
    if not valid:
        raise ConfigError('CREDIT_PRICES maps two-letter countries to 1-100, e.g. {"GB": 3}')
    return {k.upper(): v for k, v in prices.items()}


DEFAULT_PACKS = (
    {"code": "starter", "credits": 1000, "price": "10.00"},
    {"code": "growth", "credits": 5000, "price": "45.00"},
    {"code": "pro", "credits": 20000, "price": "160.00"},
)


def _money(env: Mapping[str, str], name: str, default: str) -> int:
    """A price such as "29.00" as integer cents (never a float)."""
    raw = (env.get(name) or default).strip()
    whole, _, frac = raw.partition(".")
    if not (whole.isascii() and whole.isdigit()) or not (
        frac == "" or (frac.isascii() and frac.isdigit() and len(frac) <= 2)
    ):
        raise ConfigError(f"{name} must be a price such as 29.00, got {raw!r}")
    return int(whole) * 100 + int((frac or "0").ljust(2, "0"))


def _packs(raw: str) -> tuple[dict, ...]:
    """BILLING_PACKS as JSON: [{"code": "starter", "credits": 1000, "price": "10.00"}, ...]."""
    if not raw.strip():
        packs = DEFAULT_PACKS
    else:
        try:
            packs = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"BILLING_PACKS must be a JSON list, got {raw!r}") from exc
    if not isinstance(packs, list | tuple) or not packs:
        raise ConfigError("BILLING_PACKS must be a non-empty JSON list")
    parsed = []
    for pack in packs:
        ok = (
            isinstance(pack, dict)
            and isinstance(pack.get("code"), str)
            and pack["code"].isidentifier()
            and isinstance(pack.get("credits"), int)
            and pack["credits"] > 0
        )
        if not ok:
            raise ConfigError(f"BILLING_PACKS entry needs code, credits and price: {pack!r}")
        label = f"BILLING_PACKS price of {pack['code']}"
        cents = _money({label: str(pack.get("price", ""))}, label, "")
        if cents <= 0:
            raise ConfigError(f"{label} must be more than 0.00")
        parsed.append({"code": pack["code"], "credits": pack["credits"], "price_cents": cents})
    return tuple(parsed)


def _currency(raw: str) -> str:
    code = raw.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ConfigError(f"BILLING_CURRENCY must be a three-letter ISO code, got {raw!r}")
    return code


def _billing(env: Mapping[str, str], name: str) -> dict:
    """Billing through Shopify (docs/BILLING.md). Charges are test charges outside production."""
    sim = env.get("SHOPIFY_BILLING_SIM_URL", "")
    return {
        "BILLING_TEST": name != "production",
        "BILLING_CURRENCY": _currency(env.get("BILLING_CURRENCY") or "USD"),
        "BILLING_PACKS": _packs(env.get("BILLING_PACKS", "")),
        "BILLING_PLAN_NAME": env.get("BILLING_PLAN_NAME") or "Astronote Monthly",
        "BILLING_PLAN_PRICE_CENTS": _money(env, "BILLING_PLAN_PRICE", "29.00"),
        "BILLING_PLAN_CREDITS": _int(env, "BILLING_PLAN_CREDITS", 2500),
        "BILLING_USAGE_CAP_CENTS": _money(env, "BILLING_USAGE_CAP", "100.00"),
        "BILLING_TOPUP_CREDITS": _int(env, "BILLING_TOPUP_CREDITS", 1000),
        "BILLING_TOPUP_PRICE_CENTS": _money(env, "BILLING_TOPUP_PRICE", "10.00"),
        # The app's handle (shopify.app.toml): the return URL after a charge, in the admin.
        "SHOPIFY_APP_HANDLE": env.get("SHOPIFY_APP_HANDLE") or "astronote-sms",
        # Development only: the demo shop's billing calls go to the built-in sim.
        "SHOPIFY_BILLING_SIM_URL": (sim or None) if name == "development" else None,
    }


def _links(env: Mapping[str, str]) -> dict:
    """Tracked short links (services/links). Codes are signed with LINK_SIGNING_KEYS, newest
    first; unset, one key derived from SECRET_KEY (then rotating SECRET_KEY breaks links
    already sent, so production should set its own)."""
    raw = env.get("LINK_FLUSH_SECONDS", "").strip() or "1.0"
    try:
        flush = float(raw)
    except ValueError as exc:
        raise ConfigError(f"LINK_FLUSH_SECONDS must be a number, got {raw!r}") from exc
    if not 0 <= flush <= 60:
        raise ConfigError(f"LINK_FLUSH_SECONDS must be between 0 and 60, got {raw!r}")
    base = (env.get("LINK_BASE_URL") or "").strip().rstrip("/")
    if base and not base.startswith(("https://", "http://")):
        raise ConfigError(f"LINK_BASE_URL must start with https:// or http://, got {base!r}")
    return {
        "LINK_BASE_URL": base or None,
        "LINK_SIGNING_KEYS": _keys(env.get("LINK_SIGNING_KEYS", "")),
        "LINK_FLUSH_SECONDS": flush,
    }


def _keys(raw: str) -> list[str]:
    """Comma-separated Fernet keys, newest first (older ones still decrypt)."""
    return [key.strip() for key in raw.split(",") if key.strip()]


def environment(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    name = env.get("ASTRONOTE_ENV", "development").strip().lower()
    if name not in ENVIRONMENTS:
        raise ConfigError(f"ASTRONOTE_ENV must be one of {ENVIRONMENTS}, got {name!r}")
    return name


def _database_url(env: Mapping[str, str]) -> str:
    url = env.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'astronote.db'}"
    # Heroku-style URLs and bare postgresql:// both mean psycopg 3 here.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_config(env: Mapping[str, str] | None = None) -> dict:
    """Build the Flask config mapping from the environment."""
    env = os.environ if env is None else env
    name = environment(env)
    if name == "production":
        missing = [key for key in REQUIRED_IN_PRODUCTION if not env.get(key)]
        if missing:
            raise ConfigError("production requires: " + ", ".join(missing))
    database_url = _database_url(env)
    return {
        "ASTRONOTE_ENV": name,
        "TESTING": name == "test",
        "SECRET_KEY": env.get("SECRET_KEY") or DEV_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        "REDIS_URL": env.get("REDIS_URL") or None,
        "HUEY_SQLITE_PATH": env.get("HUEY_SQLITE_PATH") or str(INSTANCE_DIR / "huey.db"),
        "HUEY_IMMEDIATE": env.get("HUEY_IMMEDIATE", "").lower() in ("1", "true", "yes"),
        "SHOPIFY_API_KEY": env.get("SHOPIFY_API_KEY", "astronote-dev-key"),
        "SHOPIFY_API_SECRET": env.get("SHOPIFY_API_SECRET") or DEV_SECRET,
        "SHOPIFY_API_SECRET_OLD": env.get("SHOPIFY_API_SECRET_OLD") or None,
        "SHOPIFY_APP_URL": env.get("SHOPIFY_APP_URL", "http://127.0.0.1:8000"),
        "SHOPIFY_ADMIN_BASE_URL": env.get("SHOPIFY_ADMIN_BASE_URL", "https://{shop}"),
        "TOKEN_ENCRYPTION_KEYS": _keys(env.get("TOKEN_ENCRYPTION_KEYS", "")),
        "MITTO_API_BASE": env.get("MITTO_API_BASE", "http://127.0.0.1:8025"),
        "MITTO_API_KEY": env.get("MITTO_API_KEY", "simulator-key"),
        "MITTO_TRAFFIC_ACCOUNT_ID": env.get("MITTO_TRAFFIC_ACCOUNT_ID", "simulator-account"),
        "MITTO_WEBHOOK_SECRET": env.get("MITTO_WEBHOOK_SECRET") or None,
        "MITTO_READ_TIMEOUT": _int(env, "MITTO_READ_TIMEOUT", 30),
        "MITTO_VALIDITY_HOURS": _int(env, "MITTO_VALIDITY_HOURS", 48),
        "SMS_BATCH_SIZE": _int(env, "SMS_BATCH_SIZE", 5000),
        "RATE_LIMIT_TRAFFIC_ACCOUNT_MAX": _int(env, "RATE_LIMIT_TRAFFIC_ACCOUNT_MAX", 100),
        "RATE_LIMIT_TENANT_MAX": _int(env, "RATE_LIMIT_TENANT_MAX", 50),
        "RATE_LIMIT_GLOBAL_MAX": _int(env, "RATE_LIMIT_GLOBAL_MAX", 200),
        "RATE_LIMIT_FALLBACK_WORKERS": _int(env, "RATE_LIMIT_FALLBACK_WORKERS", 4),
        # {"GB": 3, ...}: credits per SMS segment by destination country, over the defaults.
        "CREDIT_PRICES": _prices(env.get("CREDIT_PRICES", "")),
        "PORT": _int(env, "PORT", 8000),
        "IMPORT_MAX_MB": _int(env, "IMPORT_MAX_MB", 75),
        "MAX_CONTENT_LENGTH": _int(env, "IMPORT_MAX_MB", 75) * 1024 * 1024,
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        "PROXY_HOPS": _int(env, "PROXY_HOPS", 0, minimum=0),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        **_billing(env, name),
        **_links(env),
    }


def engine_options(database_url: str) -> dict:
    if database_url.startswith("sqlite"):
        # Web and worker processes share the file: wait for locks instead of failing.
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5}
