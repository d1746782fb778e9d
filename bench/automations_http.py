"""Webhook deliveries as Shopify sends them, gunicorn as Procfile runs it, and a sender."""

from __future__ import annotations

import http.client
import queue
import sys
import threading
import time
from collections import Counter
from datetime import datetime

import requests

from bench.campaign_support import Children
from tests.fakes import shopify_webhooks
from tests.fakes.shopify_server import signed_webhook
from tests.servers import wait_for

ORDER_BASE = 6_200_000_000_000
TOTALS = ("24.00", "42.50", "58.90", "89.99", "129.00", "17.25", "64.00")


def deliveries(customers: list[dict], secret: str, shop: str, now: datetime) -> list:
    """One signed orders/create per customer: (body, headers, order name).

    The payload and the signature are the project's fake Shopify's
    (tests/fakes/shopify_webhooks.order, tests/fakes/shopify_server.signed_webhook):
    the REST order of API 2026-10 as Shopify's own samples show it.
    """
    out = []
    for index, customer in enumerate(customers):
        payload = shopify_webhooks.order(
            ORDER_BASE + index,
            customer["phone"],
            customer_id=customer["id"],
            number=1001 + index,
            total=TOTALS[index % len(TOTALS)],
            created_at=now,
            first=customer["first_name"],
            last=customer["last_name"],
            shop=shop,
        )
        body, headers = signed(payload, secret, shop)
        out.append((body, headers, payload["name"]))
    return out


def signed(payload: dict | bytes, secret: str, shop: str) -> tuple[bytes, dict]:
    """A delivery's exact bytes and headers, with a fresh webhook id."""
    return signed_webhook(secret, "orders/create", shop, payload)


# ---------------------------------------------------------------- gunicorn


def start_gunicorn(children: Children, name: str, target: str, port: int, env: dict, args) -> str:
    """gunicorn as Procfile's `web` runs it (gthread, access log on), on 127.0.0.1 only."""
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    command += ["--worker-class", "gthread", "--workers", str(args.web_workers)]
    command += ["--threads", str(args.web_threads), "--timeout", "120"]
    command += ["--access-logfile", "-", target]
    children.spawn(name, command, env)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        children.check_alive(name)
        try:
            requests.get(base + "/healthz", timeout=2)
        except requests.RequestException:
            return False
        return children.log_text(name).count("Booting worker") >= args.web_workers

    wait_for(ready, 60, f"gunicorn {name}", interval=0.2)
    time.sleep(1.0)  # every worker imported the app before the clock starts
    return base


# ---------------------------------------------------------------- the sender


def post_all(port: int, items: list, concurrency: int, path: str = "/webhooks/shopify") -> dict:
    """POST every (body, headers, _) once from `concurrency` keep-alive connections.

    Returns the wall time from the first request to the last answer, statuses and
    per-request latencies. A request that fails at the socket is retried once on a new
    connection (gunicorn closes idle keep-alive connections after 2 s).
    """
    work: queue.SimpleQueue = queue.SimpleQueue()
    for item in items:
        work.put(item)
    statuses: Counter = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine_status, mine_lat = Counter(), []
        while True:
            try:
                body, headers, _ = work.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter()
            for attempt in range(2):
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    mine_status[response.status] += 1
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    if attempt:
                        mine_status["error"] += 1
            mine_lat.append(time.perf_counter() - started)
        conn.close()
        with lock:
            statuses.update(mine_status)
            latencies.extend(mine_lat)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    wall_start, t0 = time.time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "started_at": wall_start,
        "wall_s": time.perf_counter() - t0,
        "statuses": {str(k): v for k, v in statuses.items()},  # as JSON keeps them
        "latencies": latencies,
    }
