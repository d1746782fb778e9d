"""Every validation rule of reference §2 against the existing session_tokens.py."""

from __future__ import annotations

import sys
from pathlib import Path

# No ini file or conftest puts the repo root on sys.path for `pytest --noconftest`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from astronote.integrations.shopify.session_tokens import (
    REQUIRED_CLAIMS,
    InvalidSessionToken,
    ShopSession,
    decode_session_token,
)
from tests.fakes.shopify_server import session_token_claims, sign_session_token

KEY = "client-id-123"
SECRET, OLD_SECRET = "shpss_" + "a" * 32, "shpss_" + "b" * 32
SHOP = "example.myshopify.com"


def token(secret=SECRET, shop=SHOP, **overrides):
    return sign_session_token(KEY, secret, shop, **overrides)


def decode(value, secrets=(SECRET,)):
    return decode_session_token(value, KEY, list(secrets))


def test_valid_token_yields_shop_and_user():
    value = token(sub="7")
    assert decode(value) == ShopSession(shop_domain=SHOP, user_id="7", token=value)


def test_forged_signature_is_rejected():
    with pytest.raises(InvalidSessionToken, match="signature"):
        decode(token(secret="shpss_" + "f" * 32))


def test_tampered_payload_is_rejected():
    header, _, signature = token().split(".")
    other_payload = token(shop="other.myshopify.com").split(".")[1]
    with pytest.raises(InvalidSessionToken):
        decode(f"{header}.{other_payload}.{signature}")


@pytest.mark.parametrize(("exp_offset", "valid"), [(-5, True), (-15, False), (-3600, False)])
def test_expiry_has_ten_seconds_of_leeway(exp_offset, valid):
    value = token(exp_offset=exp_offset, nbf_offset=-60)
    if valid:
        assert decode(value).shop_domain == SHOP
    else:
        with pytest.raises(InvalidSessionToken):
            decode(value)


@pytest.mark.parametrize(("nbf_offset", "valid"), [(5, True), (15, False)])
def test_not_before_in_the_future_has_ten_seconds_of_leeway(nbf_offset, valid):
    value = token(nbf_offset=nbf_offset)
    if valid:
        assert decode(value).shop_domain == SHOP
    else:
        with pytest.raises(InvalidSessionToken):
            decode(value)


def test_wrong_audience_is_rejected():
    with pytest.raises(InvalidSessionToken):
        decode(token(aud="someone-elses-app"))


def test_iss_and_dest_naming_different_shops_is_rejected():
    with pytest.raises(InvalidSessionToken, match="different shops"):
        decode(token(iss="https://other.myshopify.com/admin"))


def test_alg_none_is_rejected():
    value = jwt.encode(session_token_claims(KEY, SHOP), None, algorithm="none")
    with pytest.raises(InvalidSessionToken):
        decode(value)


@pytest.mark.filterwarnings("ignore:The HMAC key")  # 38-byte secret < HS512's recommended 64
def test_hs512_with_the_right_secret_is_rejected():
    value = jwt.encode(session_token_claims(KEY, SHOP), SECRET, algorithm="HS512")
    with pytest.raises(InvalidSessionToken):
        decode(value)


def test_rs256_is_rejected():
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    value = jwt.encode(session_token_claims(KEY, SHOP), private_key, algorithm="RS256")
    with pytest.raises(InvalidSessionToken):
        decode(value)


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_each_required_claim_is_required(claim):
    with pytest.raises(InvalidSessionToken):
        decode(token(**{claim: None}))  # None drops the claim


@pytest.mark.parametrize("sub", ["", 42])
def test_sub_must_be_a_non_empty_string(sub):
    with pytest.raises(InvalidSessionToken):
        decode(token(sub=sub))


@pytest.mark.parametrize(
    "dest",
    [
        "https://evil.com",
        "https://example.myshopify.com.evil.com",
        "http://example.myshopify.com",  # not https
        "example.myshopify.com",  # not a URL
        "https://-bad.myshopify.com",
    ],
)
def test_dest_must_be_an_https_myshopify_url(dest):
    with pytest.raises(InvalidSessionToken):
        decode(token(dest=dest, iss=f"{dest}/admin"))


@pytest.mark.parametrize("value", ["", "abc", "a.b.c", "Bearer x.y.z", "é.é.é", "....", None])
def test_malformed_strings_are_rejected(value):
    with pytest.raises(InvalidSessionToken):
        decode(value)


def test_previous_secret_is_accepted_during_rotation():
    old = token(secret=OLD_SECRET)
    assert decode(old, secrets=(SECRET, OLD_SECRET)).shop_domain == SHOP
    with pytest.raises(InvalidSessionToken):
        decode(old, secrets=(SECRET, None))  # rotation over: the old secret is unset


def test_expired_token_signed_with_previous_secret_is_still_expired():
    with pytest.raises(InvalidSessionToken, match="expired"):
        decode(token(secret=OLD_SECRET, exp_offset=-60), secrets=(SECRET, OLD_SECRET))


def test_no_usable_secret_rejects_everything():
    with pytest.raises(InvalidSessionToken):
        decode(token(), secrets=("", None))
