"""Billing settings from the environment: parsed once, refused clearly when wrong."""

import pytest

from astronote.config import ConfigError, load_config


def test_defaults_and_overrides():
    cfg = load_config({"ASTRONOTE_ENV": "test"})
    assert cfg["BILLING_TEST"] is True and cfg["BILLING_CURRENCY"] == "USD"
    assert [p["code"] for p in cfg["BILLING_PACKS"]] == ["starter", "growth", "pro"]
    assert cfg["SHOPIFY_BILLING_SIM_URL"] is None  # development only
    cfg = load_config({
        "ASTRONOTE_ENV": "development", "BILLING_CURRENCY": "eur", "BILLING_PLAN_PRICE": "19.5",
        "BILLING_PACKS": '[{"code": "mini", "credits": 100, "price": "1.99"}]',
        "SHOPIFY_BILLING_SIM_URL": "http://127.0.0.1:8026", "SHOPIFY_APP_HANDLE": "my-app",
    })  # fmt: skip
    assert cfg["BILLING_CURRENCY"] == "EUR" and cfg["BILLING_PLAN_PRICE_CENTS"] == 1950
    assert cfg["BILLING_PACKS"] == ({"code": "mini", "credits": 100, "price_cents": 199},)
    assert cfg["SHOPIFY_BILLING_SIM_URL"] == "http://127.0.0.1:8026"
    assert cfg["SHOPIFY_APP_HANDLE"] == "my-app"


@pytest.mark.parametrize(
    "env",
    [
        {"BILLING_CURRENCY": "US"},
        {"BILLING_CURRENCY": "€UR"},
        {"BILLING_PLAN_PRICE": "29,00"},
        {"BILLING_USAGE_CAP": "-1"},
        {"BILLING_PACKS": "not json"},
        {"BILLING_PACKS": "[]"},
        {"BILLING_PACKS": '[{"code": "a b", "credits": 1, "price": "1.00"}]'},
        {"BILLING_PACKS": '[{"code": "a", "credits": 0, "price": "1.00"}]'},
        {"BILLING_PACKS": '[{"code": "a", "credits": 1, "price": "0.00"}]'},
        {"BILLING_TOPUP_CREDITS": "0"},
    ],
)
def test_bad_values_stop_the_start_with_a_clear_message(env):
    with pytest.raises(ConfigError, match="BILLING_"):
        load_config({"ASTRONOTE_ENV": "test", **env})
