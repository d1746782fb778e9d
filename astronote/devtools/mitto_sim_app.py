"""HTTP surface of the Mitto simulator: the three Mitto endpoints plus `/_sim/*` admin
(settings, log, reset, and `/_sim/inbound` to simulate a reply or a STOP).

Response shapes mirror what `astronote.integrations.mitto.client` parses. Faults are
applied in a fixed order (auth, throttle, 5xx, latency, then timeout after the
message was recorded) so that a seeded run replays the same way.
"""

from __future__ import annotations

import hmac
import json
import re
import socket
import uuid
from contextlib import suppress
from datetime import UTC, datetime

import requests
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from astronote.devtools.mitto_sim_inbound import inbound_payload, inbound_url_next_to, post_inbound

URLS = Map(
    [
        Rule("/api/v1.1/Messages/send", methods=["POST"], endpoint="send"),
        Rule("/api/v1.1/Messages/sendmessagesbulk", methods=["POST"], endpoint="bulk"),
        Rule("/api/v1.1/Messages/<message_id>", methods=["GET"], endpoint="status"),
        Rule("/_sim/config", methods=["GET", "POST"], endpoint="config"),
        Rule("/_sim/log", methods=["GET"], endpoint="log"),
        Rule("/_sim/reset", methods=["POST"], endpoint="reset"),
        Rule("/_sim/inbound", methods=["POST"], endpoint="inbound"),
    ]
)
E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def json_response(data: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(data, default=_jsonable),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def message_problem(item: object) -> str | None:
    """Why Mitto would refuse this message, or None."""
    if not isinstance(item, dict):
        return "Message must be an object"
    sms = item.get("sms")
    if not item.get("trafficAccountId"):
        return "Missing trafficAccountId"
    if not isinstance(item.get("destination"), str) or not E164.fullmatch(item["destination"]):
        return "Invalid destination"
    if not isinstance(sms, dict) or not sms.get("text") or not sms.get("sender"):
        return "Missing sms.text or sms.sender"
    return None


class SimApp:
    def __init__(self, sim):
        self.sim = sim

    def __call__(self, environ, start_response):
        # When the request reached us, before any fault or parsing delay: a provider's
        # rate limit counts arrivals, so the rate analysis of the benchmark uses this.
        environ["astronote.sim.received_at"] = datetime.now(UTC)
        request = Request(environ)
        try:
            endpoint, args = URLS.bind_to_environ(environ).match()
            response = getattr(self, "on_" + endpoint)(request, **args)
        except HTTPException as exc:
            response = json_response({"error": exc.name}, exc.code or 500)
        return response(environ, start_response)

    def on_send(self, request: Request) -> Response:
        refusal = self._faults(request)
        if refusal is not None:
            return refusal
        item = request.get_json(silent=True)
        problem = message_problem(item)
        if problem:
            return json_response({"error": problem}, 400)
        result = self._result(request, item, bulk_id=None)
        status = "Queued" if "messageId" in result else "Rejected"
        if self.sim.config.single_shape == "flat":
            data = {"id": result.get("messageId"), "status": status, "error": result.get("error")}
            data = {key: value for key, value in data.items() if value is not None}
        else:
            data = {"messages": [{**result, "status": status}]}
        return self._maybe_time_out(request, json_response(data))

    def on_bulk(self, request: Request) -> Response:
        refusal = self._faults(request)
        if refusal is not None:
            return refusal
        body = request.get_json(silent=True)
        items = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return json_response({"error": "messages must be a non-empty list"}, 400)
        if len(items) > self.sim.config.max_bulk:
            return json_response({"error": f"at most {self.sim.config.max_bulk} messages"}, 400)
        bulk_id = str(uuid.uuid4())
        results = [self._result(request, item, bulk_id) for item in items]
        if self.sim.config.shuffle_results:
            self.sim.shuffle(results)
        return self._maybe_time_out(
            request, json_response({"bulkId": bulk_id, "messages": results})
        )

    def on_status(self, request: Request, message_id: str) -> Response:
        refusal = self._faults(request)
        if refusal is not None:
            return refusal
        record = self.sim.lookup(message_id)
        if record is None:
            return json_response({"error": "Message not found"}, 404)
        return json_response(record)

    def on_config(self, request: Request) -> Response:
        if request.method == "POST":
            changes = request.get_json(silent=True)
            if not isinstance(changes, dict):
                return json_response({"error": "expected a JSON object"}, 400)
            try:
                self.sim.update_config(changes)
            except ValueError as exc:
                return json_response({"error": str(exc)}, 400)
        return json_response(self.sim.config.as_dict())

    def on_log(self, request: Request) -> Response:
        return json_response({"accepted": self.sim.accepted, "dlr": self.sim.dlr_stats()})

    def on_reset(self, request: Request) -> Response:
        self.sim.reset()
        return json_response({"ok": True})

    def on_inbound(self, request: Request) -> Response:
        """A phone replies: post it to the app's inbound route, signed like the reports."""
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
        sender, text, to = body.get("from"), body.get("text"), body.get("to")
        strings = all(isinstance(v, str) and v for v in (sender, text))
        if not strings or not isinstance(to, str | None):
            return json_response({"error": 'expected {"from": str, "text": str}'}, 400)
        cfg = self.sim.config
        url = cfg.inbound_url or inbound_url_next_to(cfg.dlr_url)
        if url is None:
            return json_response({"error": "set inbound_url or dlr_url first"}, 400)
        payload = inbound_payload(sender, text, to)
        try:
            status, answer = post_inbound(url, payload, cfg.dlr_secret)
        except (ValueError, requests.RequestException) as exc:
            return json_response({"error": f"could not reach the app: {exc}"}, 502)
        return json_response({"app_status": status, "app_response": answer, "sent": payload})

    def _result(self, request: Request, item: object, bulk_id: str | None) -> dict:
        problem = message_problem(item)
        if problem:
            result = {"error": problem}
        elif self.sim.chance(self.sim.config.reject_rate):
            result = {"error": "Rejected by simulator"}
        else:
            received_at = request.environ["astronote.sim.received_at"]
            record = self.sim.accept(item, bulk_id, received_at)
            result = {
                "messageId": record["message_id"],
                "trafficAccountId": item["trafficAccountId"],
            }
        reference = item.get("reference") if isinstance(item, dict) else None
        if self.sim.config.echo_reference and reference is not None:
            result["reference"] = reference
        return result

    def _faults(self, request: Request) -> Response | None:
        cfg = self.sim.config
        key = request.headers.get("X-Mitto-API-Key", "")
        if not hmac.compare_digest(key.encode(), cfg.api_key.encode()):
            return json_response({"error": "Invalid API key"}, 401)
        if self.sim.take_throttle():
            return json_response(
                {"error": "Too many requests"}, 429, {"Retry-After": str(cfg.retry_after_s)}
            )
        if self.sim.chance(cfg.error_5xx_rate):
            return json_response({"error": "Simulated outage"}, 503)
        if cfg.latency_ms:
            self.sim.stop_event.wait(cfg.latency_ms / 1000)
        return None

    def _maybe_time_out(self, request: Request, response: Response) -> Response:
        """After recording: answer too late or not at all, the 'unknown outcome' case."""
        cfg = self.sim.config
        if not self.sim.chance(cfg.timeout_rate):
            return response
        if cfg.timeout_mode == "drop":
            conn = request.environ.get("werkzeug.socket")
            if conn is not None:
                with suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)  # werkzeug then sees a dropped connection
            return response
        self.sim.stop_event.wait(cfg.timeout_sleep_s)  # wakes early when the simulator stops
        return response
