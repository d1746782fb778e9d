"""Delivery-report callbacks of the Mitto simulator.

One background thread pops due reports from a heap and POSTs them to the
configured loopback `dlr_url` in batches (JSON array, sometimes a lone object).
Posting failures are retried a few times and then logged; nothing here may
crash the simulator.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from astronote.integrations.mitto.signatures import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

FINAL = {"Delivered": None, "Failed": "Absent subscriber", "Expired": "Validity period expired"}
MAX_WAIT_S = 0.25  # the worker re-checks the stop flag at least this often


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [("token", token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


class DlrDispatcher:
    """Plans reports on the request thread (seeded, reproducible); posts them on its own.

    `sim` provides: config, chance(rate), uniform(a, b), choice(seq), set_status(...).
    """

    def __init__(self, sim, stop: threading.Event):
        self._sim = sim
        self._stop = stop
        self._heap: list[tuple[float, int, dict]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._in_hand = 0  # popped from the heap, not yet delivered
        # Own rng, used on this thread only: packaging depends on timing anyway, and
        # sharing the simulator's rng would make the request-path faults irreproducible.
        self._rng = random.Random(sim.config.seed)
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self._session.trust_env = False  # no proxies: reports go straight to loopback
        self.posted = 0  # reports delivered to dlr_url (2xx)
        self.dropped = 0  # reports given up after dlr_max_attempts

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mitto-sim-dlr", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._session.close()

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()

    def pending(self) -> int:
        """Reports not yet delivered (or given up), including the batch being posted."""
        with self._cond:
            return len(self._heap) + self._in_hand

    def schedule(self, message_id: str, reference: str | None) -> None:
        """Plan the reports of one accepted message (final, maybe duplicate, maybe stale)."""
        cfg, sim = self._sim.config, self._sim
        status = self._pick_outcome(cfg)
        if status is None:
            return  # a lost report: leaves the message for status polling to repair
        delay = sim.uniform(*cfg.dlr_delay_ms) / 1000
        now = datetime.now(UTC)
        final = {
            "messageId": message_id,
            "deliveryStatus": status,
            # +1 ms keeps a stale report's event time (`now`) strictly older.
            "updatedAt": iso(now + timedelta(seconds=delay + 0.001)),
            "reference": reference,
        }
        if FINAL[status]:
            final["error"] = FINAL[status]
        self._push(delay, final)
        if sim.chance(cfg.dlr_duplicate_rate):
            self._push(delay + 0.01, dict(final))
        if sim.chance(cfg.dlr_out_of_order_rate):
            stale = {
                "messageId": message_id,
                "deliveryStatus": sim.choice(("Sent", "Enroute")),
                "updatedAt": iso(now),
                "reference": reference,
            }
            self._push(delay + 0.02, stale)  # arrives after the final one, older event time

    def _pick_outcome(self, cfg) -> str | None:
        roll = self._sim.uniform(0.0, 1.0)
        for status, share in (
            ("Delivered", cfg.dlr_delivered),
            ("Failed", cfg.dlr_failed),
            ("Expired", cfg.dlr_expired),
        ):
            if roll < share:
                return status
            roll -= share
        return None

    def _push(self, delay_s: float, event: dict) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._seq), event))
            self._cond.notify()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._due_batch()
                if batch:
                    self._deliver(batch)
            except Exception:  # keep the worker alive whatever happens
                log.exception("mitto simulator: DLR worker error")
            finally:
                with self._cond:
                    self._in_hand = 0

    def _due_batch(self) -> list[dict]:
        with self._cond:
            wait = self._heap[0][0] - time.monotonic() if self._heap else MAX_WAIT_S
            if wait > 0:
                self._cond.wait(min(wait, MAX_WAIT_S))
                return []
            limit = self._sim.config.dlr_batch_size
            batch = []
            while self._heap and self._heap[0][0] <= time.monotonic() and len(batch) < limit:
                batch.append(heapq.heappop(self._heap)[2])
            self._in_hand = len(batch)
            return batch

    def _deliver(self, batch: list[dict]) -> None:
        for event in batch:
            if event["deliveryStatus"] in FINAL:
                self._sim.set_status(
                    event["messageId"], event["deliveryStatus"], event["updatedAt"]
                )
        cfg = self._sim.config
        if not cfg.dlr_url:
            return
        # Keep heap order across posts: a stale report must really arrive after its final.
        run: list[dict] = []
        for event in batch:
            if len(batch) > 1 and self._rng.random() >= cfg.dlr_object_rate:
                run.append(event)
                continue
            if run:
                self._post(cfg, run, len(run))
                run = []
            self._post(cfg, event, 1)
        if run:
            self._post(cfg, run, len(run))

    def _post(self, cfg, payload: dict | list, count: int) -> None:
        body = json.dumps(payload).encode()
        url, headers = cfg.dlr_url, {"Content-Type": "application/json"}
        if cfg.dlr_secret and cfg.dlr_auth in ("token", "both"):
            url = with_token(url, cfg.dlr_secret)
        if cfg.dlr_secret and cfg.dlr_auth in ("signature", "both"):
            headers[SIGNATURE_HEADER] = sign(cfg.dlr_secret, body)  # what the app verifies
        for attempt in range(1, cfg.dlr_max_attempts + 1):
            if self._post_once(url, body, headers):
                self.posted += count
                return
            if self._stop.wait(0.1 * attempt):
                break
        self.dropped += count
        # cfg.dlr_url, not `url`: the latter carries the secret token.
        log.warning("mitto simulator: gave up posting %d DLR(s) to %s", count, cfg.dlr_url)

    def _post_once(self, url: str, body: bytes, headers: dict) -> bool:
        try:
            response = self._session.post(
                url, data=body, headers=headers, timeout=(2, 5), allow_redirects=False
            )  # never follow off loopback
        except requests.RequestException as exc:
            log.info("mitto simulator: DLR post failed: %s", type(exc).__name__)
            return False
        return 200 <= response.status_code < 300
