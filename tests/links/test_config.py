"""The links settings: parsed and checked in config.py."""

from __future__ import annotations

import pytest

from astronote.config import ConfigError, load_config


def test_defaults():
    config = load_config({"ASTRONOTE_ENV": "test"})
    assert config["LINK_BASE_URL"] is None
    assert config["LINK_SIGNING_KEYS"] == []
    assert config["LINK_FLUSH_SECONDS"] == 1.0


def test_values_are_parsed():
    config = load_config(
        {
            "ASTRONOTE_ENV": "test",
            "LINK_BASE_URL": "https://sms.example/",
            "LINK_SIGNING_KEYS": "new-key, old-key",
            "LINK_FLUSH_SECONDS": "0.5",
        }
    )
    assert config["LINK_BASE_URL"] == "https://sms.example"
    assert config["LINK_SIGNING_KEYS"] == ["new-key", "old-key"]
    assert config["LINK_FLUSH_SECONDS"] == 0.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LINK_FLUSH_SECONDS", "soon"),
        ("LINK_FLUSH_SECONDS", "-1"),
        ("LINK_FLUSH_SECONDS", "61"),
        ("LINK_BASE_URL", "sms.example"),
        ("LINK_BASE_URL", "javascript:alert(1)"),
    ],
)
def test_bad_values_are_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({"ASTRONOTE_ENV": "test", name: value})
