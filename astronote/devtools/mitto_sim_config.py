"""Settings of the Mitto simulator: one dataclass fed by CLI flags and `POST /_sim/config`.

Both inputs go through `with_changes`, so a flag and an admin call are coerced
and validated the same way. Everything the simulator talks to must be loopback.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from urllib.parse import urlsplit

RATES = (
    "error_5xx_rate",
    "timeout_rate",
    "reject_rate",
    "dlr_delivered",
    "dlr_failed",
    "dlr_expired",
    "dlr_duplicate_rate",
    "dlr_out_of_order_rate",
    "dlr_object_rate",
)
CHOICES = {
    "timeout_mode": ("sleep", "drop"),
    "single_shape": ("nested", "flat"),
    "dlr_auth": ("token", "signature", "both"),
}
RUNTIME_FIXED = ("host", "port")  # the socket is bound already


@dataclass(frozen=True)
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port (tests); the CLI defaults to 8025
    api_key: str = "simulator-key"  # same default as MITTO_API_KEY in astronote.config
    seed: int = 1
    log_requests: bool = False
    latency_ms: int = 0
    error_5xx_rate: float = 0.0
    timeout_rate: float = 0.0  # message IS accepted and logged, then no usable answer
    timeout_mode: str = "sleep"  # sleep past the client's read timeout, or drop the socket
    timeout_sleep_s: float = 35.0  # longer than the client's default 30 s read timeout
    throttle_burst: int = 0  # the next N API requests get 429
    retry_after_s: int = 1
    reject_rate: float = 0.0  # per-message `error` instead of a messageId
    echo_reference: bool = True
    shuffle_results: bool = False  # reorders bulk results; only detectable with references
    single_shape: str = "nested"  # nested: messages[0].messageId; flat: top-level id
    max_bulk: int = 5000
    dlr_url: str | None = None
    # The app's MITTO_WEBHOOK_SECRET (the CLI reads it from the environment): with it
    # set, the app refuses unsigned callbacks.
    dlr_secret: str | None = None
    # X-Mitto-Signature (HMAC of the raw body), ?token=<secret>, or both. Signature by
    # default: a token in the URL would end up in access logs.
    dlr_auth: str = "signature"
    inbound_url: str | None = None  # replies (`POST /_sim/inbound`); None: next to dlr_url
    dlr_delivered: float = 0.9  # the remainder up to 1.0 never gets a report (lost DLRs)
    dlr_failed: float = 0.05
    dlr_expired: float = 0.05
    dlr_delay_ms: tuple[int, int] = (100, 1000)
    dlr_duplicate_rate: float = 0.0
    dlr_out_of_order_rate: float = 0.0  # a stale 'Sent'/'Enroute' after the final report
    dlr_object_rate: float = 0.2  # share of reports posted alone as a JSON object
    dlr_batch_size: int = 50
    dlr_max_attempts: int = 3

    def __post_init__(self) -> None:
        validate(self)

    def with_changes(self, changes: Mapping[str, object]) -> SimConfig:
        kinds = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(changes) - set(kinds))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        coerced = {name: _coerce(name, kinds[name], value) for name, value in changes.items()}
        return replace(self, **coerced)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["api_key"] = "***"  # the admin endpoint echoes settings: never the secrets
        data["dlr_secret"] = "***" if self.dlr_secret else None
        return data


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return False


def validate(cfg: SimConfig) -> None:
    problems = [
        f"{name} must be within [0, 1]" for name in RATES if not 0.0 <= getattr(cfg, name) <= 1.0
    ]
    if cfg.dlr_delivered + cfg.dlr_failed + cfg.dlr_expired > 1.0 + 1e-9:
        problems.append("dlr_delivered + dlr_failed + dlr_expired must not exceed 1")
    problems += [
        f"{name} must be one of {allowed}"
        for name, allowed in CHOICES.items()
        if getattr(cfg, name) not in allowed
    ]
    low, high = cfg.dlr_delay_ms
    checks = {
        "host must be a loopback address": is_loopback(cfg.host),
        "dlr_url must be an http(s) loopback URL": _loopback_url(cfg.dlr_url),
        "inbound_url must be an http(s) loopback URL": _loopback_url(cfg.inbound_url),
        "port must be within 0..65535": 0 <= cfg.port <= 65535,
        "latency_ms must be within 0..60000": 0 <= cfg.latency_ms <= 60_000,
        "timeout_sleep_s must be within (0, 600]": 0 < cfg.timeout_sleep_s <= 600,
        "throttle_burst and retry_after_s must be >= 0": min(cfg.throttle_burst, cfg.retry_after_s)
        >= 0,
        "max_bulk and dlr_batch_size must be >= 1": min(cfg.max_bulk, cfg.dlr_batch_size) >= 1,
        "dlr_max_attempts must be within 1..10": 1 <= cfg.dlr_max_attempts <= 10,
        "dlr_delay_ms must be 0 <= min <= max <= 600000": 0 <= low <= high <= 600_000,
        "api_key must not be empty": bool(cfg.api_key),
    }
    problems += [message for message, ok in checks.items() if not ok]
    if problems:
        raise ValueError("; ".join(problems))


def _loopback_url(url: str | None) -> bool:
    if url is None:
        return True  # callbacks off
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and is_loopback(parts.hostname)


def _coerce(name: str, kind: str, value: object) -> object:
    """JSON values or CLI strings -> the field's type (annotations are strings here)."""
    try:
        if kind == "bool":
            return _bool(value)
        if kind in ("int", "float"):
            if isinstance(value, bool):
                raise ValueError("not a number")
            return int(value) if kind == "int" else float(value)
        if kind == "tuple[int, int]":
            items = value.split(",") if isinstance(value, str) else list(value)
            low, high = (int(item) for item in items)
            return (low, high)
        if kind == "str | None":
            return None if value in (None, "") else str(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot use {value!r} ({exc})") from None


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
    ):
        return value.lower() in ("1", "true", "yes", "on")
    raise ValueError("not a boolean")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m astronote.devtools.mitto_sim",
        description="Local Mitto SMS API simulator with fault injection and DLR callbacks.",
    )
    defaults = SimConfig(port=8025)
    for f in fields(SimConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.type == "bool":
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"default: {default}",
            )
        else:
            parser.add_argument(flag, default=None, help=f"default: {default}")
    return parser


def config_from_args(
    argv: list[str] | None = None, environ: Mapping[str, str] | None = None
) -> SimConfig:
    """Flags win; the report secret defaults to the app's MITTO_WEBHOOK_SECRET, which
    `make run` exports to every process, so the simulator's reports pass its check."""
    args = vars(build_parser().parse_args(argv))
    environ = os.environ if environ is None else environ
    if args.get("dlr_secret") is None and environ.get("MITTO_WEBHOOK_SECRET"):
        args["dlr_secret"] = environ["MITTO_WEBHOOK_SECRET"]
    return SimConfig(port=8025).with_changes({k: v for k, v in args.items() if v is not None})
