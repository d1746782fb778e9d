"""Delivery-report and inbound parsing: every payload shape and alias of mitto-api.md §6/§7."""

import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from werkzeug.datastructures import MultiDict

# Runs with --noconftest: make the repository root importable on its own.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from astronote.integrations.mitto.callbacks import (  # noqa: E402
    ERROR_KEYS,
    ID_KEYS,
    STATUS_KEYS,
    TIME_KEYS,
    parse_delivery_batch,
    parse_delivery_reports,
    parse_inbound,
    parse_time,
    state_for,
)

NOON = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_array_of_reports():
    reports = parse_delivery_reports(
        [
            {
                "messageId": "m-1",
                "deliveryStatus": "Delivered",
                "updatedAt": "2025-03-01T12:00:00Z",
                "reference": "r-1",
            },
            {"messageId": "m-2", "deliveryStatus": "Failed", "error": "Absent subscriber"},
        ]
    )
    assert [(r.message_id, r.state, r.is_final) for r in reports] == [
        ("m-1", "delivered", True),
        ("m-2", "failed", True),
    ]
    assert reports[0].occurred_at == NOON and reports[0].reference == "r-1"
    assert reports[1].error == "Absent subscriber" and reports[1].occurred_at is None
    assert reports[0].raw["reference"] == "r-1"


def test_single_object():
    (report,) = parse_delivery_reports({"id": 42, "status": "ENROUTE"})
    assert (report.message_id, report.raw_status, report.state) == ("42", "ENROUTE", "in_flight")
    assert not report.is_final


@pytest.mark.parametrize(
    "params",
    [
        {
            "messageId": "m-9",
            "status": "DELIVRD",
            "timestamp": "1740830400",
        },  # request.args.to_dict()
        MultiDict([("messageId", "m-9"), ("status", "DELIVRD"), ("timestamp", "1740830400")]),
        parse_qs("messageId=m-9&status=DELIVRD&timestamp=1740830400"),  # values are lists
    ],
)
def test_query_parameters(params):
    (report,) = parse_delivery_reports(params)
    assert (report.message_id, report.state, report.occurred_at) == ("m-9", "delivered", NOON)


@pytest.mark.parametrize("key", ID_KEYS)
def test_every_id_alias(key):
    assert parse_delivery_reports({key: "m-1", "status": "ok"})[0].message_id == "m-1"


@pytest.mark.parametrize("key", STATUS_KEYS)
def test_every_status_alias(key):
    (report,) = parse_delivery_reports({"messageId": "m-1", key: "Undelivered"})
    assert (report.raw_status, report.state) == ("Undelivered", "failed")


@pytest.mark.parametrize("key", TIME_KEYS)
def test_every_time_alias(key):
    (report,) = parse_delivery_reports({"messageId": "m-1", key: "2025-03-01T14:00:00+02:00"})
    assert report.occurred_at == NOON


@pytest.mark.parametrize("key", ERROR_KEYS)
def test_every_error_alias(key):
    assert parse_delivery_reports({"messageId": "m-1", key: "boom"})[0].error == "boom"


def test_first_present_alias_wins_and_empty_values_are_absent():
    (report,) = parse_delivery_reports(
        {
            "messageId": "",
            "message_id": "m-2",
            "id": "m-3",
            "deliveryStatus": None,
            "status": "sent",
        }
    )
    assert (report.message_id, report.raw_status) == ("m-2", "sent")


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        *[(s, "delivered") for s in ("delivered", "DELIVRD", "Completed", "ok")],
        *[
            (s, "failed")
            for s in ("failure", "Failed", "undelivered", "EXPIRED", "rejected", "error")
        ],
        *[(s, "in_flight") for s in ("sent", "Queued", "accepted", "submitted", "EnRoute")],
        (" Delivered ", "delivered"),
        ("mystery", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_status_mapping_is_case_insensitive(raw, state):
    assert state_for(raw) == state


def test_unknown_status_keeps_the_raw_string():
    (report,) = parse_delivery_reports({"messageId": "m-1", "status": "Paused-By-Carrier"})
    assert (report.raw_status, report.state, report.is_final) == (
        "Paused-By-Carrier",
        "unknown",
        False,
    )
    (missing,) = parse_delivery_reports({"messageId": "m-2"})
    assert (missing.raw_status, missing.state) == (None, "unknown")


def test_events_without_id_and_junk_are_skipped():
    payload = [
        {"status": "delivered"},
        {"messageId": "  "},
        "text",
        7,
        None,
        {"messageId": "m-1", "status": "delivered"},
    ]
    assert [r.message_id for r in parse_delivery_reports(payload)] == ["m-1"]
    assert parse_delivery_reports(None) == [] and parse_delivery_reports("x") == []


def test_structured_error_is_kept_as_text():
    (report,) = parse_delivery_reports(
        {"messageId": "m-1", "status": "failed", "error": {"code": 34}}
    )
    assert "34" in report.error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-01T12:00:00Z", NOON),
        ("2025-03-01T12:00:00.0000000Z", NOON),  # .NET-style 7 fractional digits
        ("2025-03-01 12:00:00", NOON),  # naive = UTC
        ("2025-03-01T13:00:00+01:00", NOON),
        (1740830400, NOON),
        (1740830400000, NOON),
        ("1740830400000", NOON),
        (1740830400.0, NOON),
        ("yesterday", None),
        ("", None),
        (0, None),
        (-5, None),
        (True, None),
        (None, None),
        (float("nan"), None),
        (1e30, None),
        ({"t": 1}, None),
    ],
)
def test_event_time_parsing(value, expected):
    assert parse_time(value) == expected


def test_invalid_time_gives_none_not_an_error():
    (report,) = parse_delivery_reports({"messageId": "m-1", "updatedAt": "31/02/2025"})
    assert report.occurred_at is None


@pytest.mark.parametrize(
    ("text_key", "to_key", "from_key"),
    [
        ("text", "to", "from"),
        ("message", "destination", "msisdn"),
        ("body", "to", "msisdn"),
    ],
)
def test_inbound_aliases(text_key, to_key, from_key):
    payload = {
        text_key: " STOP ",
        to_key: "+306999999999",
        from_key: "306900000001",
        "messageId": "mo-1",
        "receivedAt": "2025-03-01T12:00:00Z",
    }
    inbound = parse_inbound(payload)
    assert (inbound.from_number, inbound.to, inbound.text, inbound.message_id) == (
        "306900000001",
        "+306999999999",
        " STOP ",
        "mo-1",
    )
    assert inbound.received_at == NOON and inbound.raw == payload


def test_inbound_from_query_parameters_and_missing_fields():
    inbound = parse_inbound(MultiDict([("msisdn", "+306900000001"), ("text", "stop")]))
    assert (inbound.from_number, inbound.text, inbound.to, inbound.received_at) == (
        "+306900000001",
        "stop",
        None,
        None,
    )


def test_inbound_rejects_non_objects():
    with pytest.raises(ValueError):
        parse_inbound([{"from": "+306900000001"}])


# --------------------------------------------------------------------------- issue 10, 11-13


def test_each_report_is_validated_on_its_own():
    reports, rejected = parse_delivery_batch(
        [
            {"messageId": "m" * 65, "status": "delivered"},
            {"messageId": "a\u0000b", "status": "delivered"},
            {"status": "delivered"},
            "text",
            {"messageId": "ok-1", "status": "Deliv\u0000ered", "error": "x\u0000y"},
        ]
    )
    assert [r.message_id for r in reports] == ["ok-1"]
    assert (reports[0].raw_status, reports[0].state, reports[0].error) == (
        "Delivered",
        "delivered",
        "xy",
    )
    assert [item.index for item in rejected] == [0, 1, 2, 3]
    assert "64" in rejected[0].reason and "missing" in rejected[2].reason


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("4", 4),
        (4, 4),
        ("9223372036854775807", 9223372036854775807),
        ("9223372036854775808", None),
        (9223372036854775808, None),
        ("²", None),
        ("٣", None),
        ("0", None),
        ("-1", None),
        ("r-1", None),
        ("1" * 65, None),
    ],
)
def test_only_a_reference_that_can_be_our_message_id_is_used(reference, expected):
    (report,) = parse_delivery_reports({"messageId": "m-1", "reference": reference})
    assert report.reference_id == expected


def test_inbound_text_loses_nul_and_an_oversized_id_becomes_a_stable_digest():
    sms = parse_inbound({"from": "+1415\u00005551234", "text": "ST\u0000OP", "messageId": "x" * 99})
    again = parse_inbound({"from": "+14155551234", "text": "STOP", "messageId": "x" * 99})
    assert (sms.from_number, sms.text) == ("+14155551234", "STOP")
    assert sms.message_id == again.message_id and len(sms.message_id) <= 64
    assert parse_inbound({"from": "1", "messageId": "short"}).message_id == "short"
