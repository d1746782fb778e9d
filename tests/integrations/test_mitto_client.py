"""MittoClient against `responses` fakes: every case of mitto-api.md §10 for the client."""

import json
import logging
import socket
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import requests
import responses
from urllib3.exceptions import ProtocolError

# Runs with --noconftest: make the repository root importable on its own.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from astronote.integrations.mitto.client import (  # noqa: E402
    BULK_PATH,
    SEND_PATH,
    MittoAuthError,
    MittoClient,
    MittoPermanentError,
    MittoProtocolError,
    MittoRetryableError,
    MittoUnknownOutcomeError,
    MittoValidationError,
    OutboundSms,
    parse_retry_after,
)

BASE = "https://mitto.test"
KEY = "secret-api-key-123"
SEND_URL = BASE + SEND_PATH
BULK_URL = BASE + BULK_PATH


@pytest.fixture
def client():
    return MittoClient(BASE + "/", KEY, "ta-1", connect_timeout=1, read_timeout=2)


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def sms(n: int, destination: str | None = None) -> OutboundSms:
    return OutboundSms(f"r{n}", destination or f"+3069000000{n:02d}", f"Hi {n}", "Shop")


def sent_body(mock, index: int = 0) -> dict:
    return json.loads(mock.calls[index].request.body)


# -- single send -------------------------------------------------------------


def test_send_nested_shape_and_request_contract(client, mock):
    mock.post(SEND_URL, json={"messages": [{"messageId": "m-1", "status": "Queued"}]})
    result = client.send("+306900000001", "Hello", "Shop", reference="rec-9")
    assert (result.message_id, result.status, result.accepted) == ("m-1", "Queued", True)
    request = mock.calls[0].request
    assert request.headers["X-Mitto-API-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    assert sent_body(mock) == {
        "trafficAccountId": "ta-1",
        "destination": "+306900000001",
        "sms": {"text": "Hello", "sender": "Shop"},
        "reference": "rec-9",
    }


def test_send_flat_shape_defaults_status_to_sent(client, mock):
    mock.post(SEND_URL, json={"id": 12345})
    result = client.send("+306900000001", "Hello", "Shop")
    assert (result.message_id, result.status) == ("12345", "sent")
    assert "reference" not in sent_body(mock)


def test_send_per_message_error_is_a_rejection(client, mock):
    mock.post(SEND_URL, json={"messages": [{"error": "Invalid sender", "status": "Rejected"}]})
    result = client.send("+306900000001", "Hello", "Shop")
    assert not result.accepted and result.error == "Invalid sender"


@pytest.mark.parametrize("reply", [{"json": {"status": "ok"}}, {"body": "<html>ok</html>"}])
def test_send_unusable_2xx_is_unknown_outcome(client, mock, reply):
    mock.post(SEND_URL, **reply)
    with pytest.raises(MittoProtocolError) as info:
        client.send("+306900000001", "Hello", "Shop")
    assert info.value.outcome_unknown and not info.value.retryable


# -- bulk --------------------------------------------------------------------


def test_bulk_maps_by_position_with_per_message_error(client, mock):
    mock.post(
        BULK_URL,
        json={
            "bulkId": "b-1",
            "messages": [
                {"messageId": "m-0", "trafficAccountId": "ta-1"},
                {"trafficAccountId": "ta-1", "error": "Blacklisted"},
                {"trafficAccountId": "ta-1"},
            ],
        },
    )
    result = client.send_bulk([sms(0), sms(1), sms(2)])
    assert result.bulk_id == "b-1"
    assert [(r.reference, r.message_id) for r in result.results] == [
        ("r0", "m-0"),
        ("r1", None),
        ("r2", None),
    ]
    assert result.results[1].error == "Blacklisted" and result.results[2].error
    assert [r.reference for r in result.accepted] == ["r0"]
    body = sent_body(mock)["messages"]
    assert body[1] == {
        "trafficAccountId": "ta-1",
        "destination": "+306900000001",
        "sms": {"text": "Hi 1", "sender": "Shop"},
        "reference": "r1",
    }


def test_bulk_maps_shuffled_results_by_reference(client, mock):
    mock.post(
        BULK_URL,
        json={
            "bulkId": "b-2",
            "messages": [
                {"messageId": "m-2", "reference": "r2"},
                {"error": "Rejected", "reference": "r0"},
                {"messageId": "m-1", "reference": "r1"},
            ],
        },
    )
    result = client.send_bulk([sms(0), sms(1), sms(2)])
    assert [(r.reference, r.message_id) for r in result.results] == [
        ("r0", None),
        ("r1", "m-1"),
        ("r2", "m-2"),
    ]


@pytest.mark.parametrize(
    "reply",
    [
        {"messages": [{"messageId": "m-0"}]},  # missing bulkId
        {"bulkId": "b-3"},  # missing messages
        {"bulkId": "b-3", "messages": {"messageId": "m-0"}},  # not a list
        [{"messageId": "m-0"}],  # not an object
    ],
)
def test_bulk_malformed_response_is_unknown_outcome(client, mock, reply):
    mock.post(BULK_URL, json=reply)
    with pytest.raises(MittoProtocolError) as info:
        client.send_bulk([sms(0)])
    assert isinstance(info.value, MittoUnknownOutcomeError)


def test_bulk_length_mismatch_never_guesses(client, mock):
    mock.post(BULK_URL, json={"bulkId": "b-4", "messages": [{"messageId": "m-0"}]})
    with pytest.raises(MittoProtocolError) as info:
        client.send_bulk([sms(0), sms(1)])
    assert info.value.bulk_id == "b-4" and info.value.matched == {}


def test_bulk_reference_problems_keep_only_certain_matches(client, mock):
    mock.post(
        BULK_URL,
        json={
            "bulkId": "b-5",
            "messages": [
                {"messageId": "m-0", "reference": "r0"},
                {"messageId": "m-x", "reference": "r1"},
                {"messageId": "m-y", "reference": "r1"},  # duplicate: r1 is unknown
                {"messageId": "m-z", "reference": "zzz"},  # not ours; r2 never answered
            ],
        },
    )
    with pytest.raises(MittoProtocolError) as info:
        client.send_bulk([sms(0), sms(1), sms(2)])
    assert {ref: r.message_id for ref, r in info.value.matched.items()} == {"r0": "m-0"}


def test_bulk_echoed_destination_must_agree_with_position(client, mock):
    mock.post(
        BULK_URL,
        json={
            "bulkId": "b-6",
            "messages": [
                {"messageId": "m-0", "destination": "306900000001"},
                {"messageId": "m-1", "destination": "306900000000"},
            ],
        },
    )
    with pytest.raises(MittoProtocolError):
        client.send_bulk([sms(0), sms(1)])


def test_bulk_accepts_echoed_destination_without_plus(client, mock):
    mock.post(
        BULK_URL,
        json={"bulkId": "b-7", "messages": [{"messageId": "m-0", "destination": "306900000000"}]},
    )
    assert client.send_bulk([sms(0)]).results[0].message_id == "m-0"


# -- HTTP errors and transport failures ----------------------------------------


def test_429_then_success(client, mock):
    mock.post(BULK_URL, status=429, headers={"Retry-After": "7"}, json={"error": "slow down"})
    mock.post(BULK_URL, json={"bulkId": "b-8", "messages": [{"messageId": "m-0"}]})
    with pytest.raises(MittoRetryableError) as info:
        client.send_bulk([sms(0)])
    assert (info.value.status, info.value.retry_after) == (429, 7.0)
    assert client.send_bulk([sms(0)]).results[0].message_id == "m-0"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_then_success(client, mock, status):
    mock.post(SEND_URL, status=status, body="upstream down")
    mock.post(SEND_URL, json={"id": "m-1"})
    with pytest.raises(MittoRetryableError) as info:
        client.send("+306900000001", "Hello", "Shop")
    # Retryable per the contract, but flagged: Mitto may have processed it.
    assert info.value.reached_provider and info.value.retry_after is None
    assert client.send("+306900000001", "Hello", "Shop").message_id == "m-1"


@pytest.mark.parametrize(
    "exc",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104))),
        requests.exceptions.ChunkedEncodingError("broken body"),
    ],
)
def test_failure_after_sending_is_unknown_outcome(client, mock, exc):
    mock.post(BULK_URL, body=exc)
    with pytest.raises(MittoUnknownOutcomeError) as info:
        client.send_bulk([sms(0)])
    assert not info.value.retryable


def test_connect_timeout_is_retryable(client, mock):
    mock.post(SEND_URL, body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(MittoRetryableError) as info:
        client.send("+306900000001", "Hello", "Shop")
    assert not info.value.reached_provider


def test_connection_refused_is_retryable():
    with socket.socket() as probe:  # a port that was free a moment ago: refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = MittoClient(f"http://127.0.0.1:{port}", KEY, "ta-1", connect_timeout=1)
    with pytest.raises(MittoRetryableError) as info:
        client.send("+306900000001", "Hello", "Shop")
    assert not info.value.reached_provider


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_a_configuration_error(client, mock, status):
    mock.post(BULK_URL, status=status, json={"error": "bad key"})
    with pytest.raises(MittoAuthError) as info:
        client.send_bulk([sms(0)])
    assert isinstance(info.value, MittoPermanentError) and info.value.status == status


def test_other_4xx_is_permanent_with_truncated_body(client, mock):
    mock.post(SEND_URL, status=422, body="x" * 5000)
    with pytest.raises(MittoPermanentError) as info:
        client.send("+306900000001", "Hello", "Shop")
    assert not isinstance(info.value, MittoAuthError)
    assert info.value.status == 422 and len(info.value.body) < 600


def test_api_key_never_logged_or_shown(client, mock, caplog):
    caplog.set_level(logging.DEBUG)
    mock.post(SEND_URL, status=401, body="denied")
    mock.post(BULK_URL, body=requests.ReadTimeout("timeout"))
    with pytest.raises(MittoAuthError) as auth:
        client.send("+306900000001", "Hello", "Shop")
    with pytest.raises(MittoUnknownOutcomeError) as unknown:
        client.send_bulk([sms(0)])
    texts = [caplog.text, repr(client), str(auth.value), str(unknown.value)]
    assert caplog.text and not any(KEY in text for text in texts)


# -- local validation: no HTTP call ------------------------------------------


@pytest.mark.parametrize(
    "destination",
    [
        "306900000001",
        "+06900000001",
        "+1",
        "+1234567890123456",
        "+3069000a0001",
        "+306900000001\n",
        " +306900000001",
        "+३०६९००००",
        "",
    ],
)
def test_invalid_destination_makes_no_call(client, mock, destination):
    with pytest.raises(MittoValidationError):
        client.send(destination, "Hello", "Shop")
    with pytest.raises(MittoValidationError) as info:
        client.send_bulk([sms(0), OutboundSms("bad", destination, "x", "Shop")])
    assert info.value.references == ["bad"] and not info.value.retryable
    assert len(mock.calls) == 0


@pytest.mark.parametrize(
    "batch", [[], [sms(0), sms(0)], [OutboundSms("", "+306900000001", "x", "S")]]
)
def test_bulk_needs_unique_references(client, mock, batch):
    with pytest.raises(MittoValidationError):
        client.send_bulk(batch)
    assert len(mock.calls) == 0


# -- status lookup and helpers -----------------------------------------------


def test_get_status_quotes_the_id(client, mock):
    mock.get(
        BASE + "/api/v1.1/Messages/a%2Fb", json={"messageId": "a/b", "deliveryStatus": "Delivered"}
    )
    assert client.get_status("a/b")["deliveryStatus"] == "Delivered"
    assert mock.calls[0].request.headers["X-Mitto-API-Key"] == KEY


def test_get_status_read_timeout_is_simply_retryable(client, mock):
    mock.get(BASE + "/api/v1.1/Messages/m-1", body=requests.ReadTimeout("slow"))
    with pytest.raises(MittoRetryableError):
        client.get_status("m-1")


def test_get_status_unknown_id_is_permanent(client, mock):
    mock.get(BASE + "/api/v1.1/Messages/nope", status=404, json={"error": "not found"})
    with pytest.raises(MittoPermanentError):
        client.get_status("nope")


def test_retry_after_parsing():
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < parse_retry_after(future) <= 120
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_session_is_pooled_and_never_retries_by_itself(client):
    adapter = client.session.get_adapter(BASE)
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    assert adapter.max_retries.total == 0
