"""Local Mitto SMS API simulator with fault injection and delivery-report callbacks.

    python -m astronote.devtools.mitto_sim --host 127.0.0.1 --port 8025 \\
        --dlr-url http://127.0.0.1:8000/webhooks/mitto/dlr

Tests use `MittoSimulator(SimConfig(...)).start()` (port 0 = any free port).
Settings: `SimConfig` (CLI flags, or `POST /_sim/config` at runtime); the log of
accepted messages: `.accepted` or `GET /_sim/log`; a phone's reply or STOP:
`POST /_sim/inbound` (docs/DEVELOPMENT.md). Loopback only, by design.
"""

from __future__ import annotations

import itertools
import logging
import random
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from astronote.devtools.mitto_sim_app import SimApp
from astronote.devtools.mitto_sim_config import RUNTIME_FIXED, SimConfig, config_from_args
from astronote.devtools.mitto_sim_dlr import DlrDispatcher, iso

log = logging.getLogger(__name__)

__all__ = ["MittoSimulator", "SimConfig", "main"]


class _Handler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.server.app.sim.config.log_requests:
            super().log_request(code, size)


class MittoSimulator:
    def __init__(self, config: SimConfig | None = None):
        self._config = config or SimConfig()
        self._lock = threading.Lock()  # guards the rng and every piece of state below
        self._rng = random.Random(self._config.seed)
        self._accepted: list[dict] = []
        self._by_id: dict[str, dict] = {}
        self._status: dict[str, dict] = {}  # after a report; until then "Queued"
        # Ids: a random prefix per run and a counter, shaped like a GUID. Unique across
        # restarts as uuid4 per message was, at a fraction of the CPU: the simulator
        # shares the machine with the app in the benchmarks.
        self._id_prefix, self._ids = str(uuid.uuid4())[:24], itertools.count()
        self._throttle_left = self._config.throttle_burst
        self.stop_event = threading.Event()
        self.dlr = DlrDispatcher(self, self.stop_event)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------
    @property
    def config(self) -> SimConfig:
        return self._config  # immutable: readers never see a half-applied change

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"http://{self._config.host}:{self.port}"

    def start(self) -> MittoSimulator:
        self._bind()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="mitto-sim",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Foreground mode for the CLI; Ctrl-C stops it."""
        self._bind()
        print(
            f"Mitto simulator on {self.base_url}; DLRs -> {self._config.dlr_url or 'off'}",
            flush=True,
        )
        try:
            self._server.serve_forever(poll_interval=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        self.stop_event.set()  # wakes handlers sleeping for latency/timeouts
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        if self._server is not None:
            self._server.server_close()
        self.dlr.stop()

    def __enter__(self) -> MittoSimulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _bind(self) -> None:
        cfg = self._config
        self._server = make_server(
            cfg.host, cfg.port, SimApp(self), threaded=True, request_handler=_Handler
        )
        self.dlr.start()

    # -- inspection helpers --------------------------------------------------
    @property
    def accepted(self) -> list[dict]:
        with self._lock:
            return [dict(record) for record in self._accepted]

    def sends_per_phone(self) -> Counter:
        with self._lock:
            return Counter(record["destination"] for record in self._accepted)

    def dlr_stats(self) -> dict:
        return {
            "posted": self.dlr.posted,
            "dropped": self.dlr.dropped,
            "pending": self.dlr.pending(),
        }

    def reset(self) -> None:
        """Forget messages and pending reports; replay the random sequence from the seed."""
        self.dlr.clear()
        with self._lock:
            self._accepted.clear()
            self._by_id.clear()
            self._status.clear()
            self._rng.seed(self._config.seed)
            self._throttle_left = self._config.throttle_burst

    def update_config(self, changes: Mapping[str, object]) -> SimConfig:
        fixed = sorted(set(changes) & set(RUNTIME_FIXED))
        if fixed:
            raise ValueError(f"cannot change at runtime: {', '.join(fixed)}")
        new = self._config.with_changes(changes)
        with self._lock:
            self._config = new
            if "throttle_burst" in changes:
                self._throttle_left = new.throttle_burst
            if "seed" in changes:
                self._rng.seed(new.seed)
        return new

    # -- used by the app and the DLR dispatcher ------------------------------
    def chance(self, rate: float) -> bool:
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        with self._lock:
            return self._rng.random() < rate

    def uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._rng.uniform(low, high)

    def choice(self, options: Sequence):
        with self._lock:
            return self._rng.choice(options)

    def shuffle(self, items: list) -> None:
        with self._lock:
            self._rng.shuffle(items)

    def take_throttle(self) -> bool:
        with self._lock:
            if self._throttle_left <= 0:
                return False
            self._throttle_left -= 1
            return True

    def accept(self, item: dict, bulk_id: str | None, received_at: datetime | None = None) -> dict:
        now = datetime.now(UTC)
        message_id = f"{self._id_prefix}{next(self._ids):012x}"
        with self._lock:
            record = {
                "message_id": message_id,
                "destination": item["destination"],
                "text": item["sms"]["text"],
                "sender": item["sms"]["sender"],
                "reference": item.get("reference"),
                "bulk_id": bulk_id,
                "accepted_at": now,
                "received_at": received_at or now,  # when its request arrived
                "traffic_account_id": item["trafficAccountId"],
            }
            self._accepted.append(record)
            self._by_id[message_id] = record
        self.dlr.schedule(message_id, record["reference"])
        return record

    def set_status(self, message_id: str, status: str, updated_at: str) -> None:
        with self._lock:
            if message_id in self._by_id:
                self._status[message_id] = {"deliveryStatus": status, "updatedAt": updated_at}

    def lookup(self, message_id: str) -> dict | None:
        with self._lock:
            record = self._by_id.get(message_id)
            if record is None:
                return None
            return {
                "messageId": message_id,
                "createdAt": iso(record["accepted_at"]),
                "text": record["text"],
                "trafficAccountId": record["traffic_account_id"],
                "reference": record["reference"],
                **self._status.get(
                    message_id,
                    {"deliveryStatus": "Queued", "updatedAt": iso(record["accepted_at"])},
                ),
            }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = config_from_args(argv)
    except ValueError as exc:
        print(f"mitto_sim: {exc}", file=sys.stderr)
        return 2
    MittoSimulator(config).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
