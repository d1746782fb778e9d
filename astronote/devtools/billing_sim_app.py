"""The billing simulator over HTTP: Shopify's confirmation page (Approve / Decline) for
the tests' fake Shopify, and a standalone server for `make run`'s demo shop, which also
answers its code discounts (devtools/discount_sim.py) and lists them at
`/<shop>/admin/discounts` (the codes a campaign created, to check by eye).

    python -m astronote.devtools.billing_sim_app --port 8026 \\
        --webhook-url http://127.0.0.1:8000/webhooks/shopify

Loopback only. The standalone server accepts any access token: it stands in for the
demo shop's store, which has none (services/billing/gateway.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
from html import escape

from werkzeug.serving import make_server
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from astronote.devtools.billing_sim import BillingSim
from astronote.devtools.discount_sim import DiscountSim

CHARGE_PATH = re.compile(
    r"^admin/charges/(purchase|subscription)/([0-9]{1,12})/(confirm|approve|decline)$"
)
GRAPHQL_PATH = re.compile(r"^admin/api/[\w-]+/graphql\.json$")
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Approve charge · Shopify (simulated)</title>
<style>body{{font-family:system-ui,sans-serif;background:#f1f1f1;margin:0;padding:48px 16px}}
main{{max-width:480px;margin:auto;background:#fff;border-radius:12px;padding:24px;
box-shadow:0 1px 3px #0003}}h1{{font-size:20px;margin:0 0 8px}}.price{{font-size:28px;
font-weight:600;margin:16px 0}}form{{display:inline}}button{{font:inherit;padding:8px 16px;
border-radius:8px;border:1px solid #8a8a8a;background:#fff;margin-right:8px;cursor:pointer}}
button.primary{{background:#303030;color:#fff;border-color:#303030}}.test{{color:#8a6116}}</style>
</head><body><main>
<p>{shop}</p><h1>Approve {name}</h1><p class="price">{price}</p>
{test}<p>Status: <strong id="charge-status">{status}</strong></p>
<form method="post" action="approve"><button class="primary" type="submit">Approve</button></form>
<form method="post" action="decline"><button type="submit">Decline</button></form>
</main></body></html>"""


DEMO_SHOP = "astronote-demo.myshopify.com"  # devtools/demo.py's shop
DEMO_DISCOUNTS = (
    ("Welcome 10%", "WELCOME10"),
    ("Black Friday", "BFCM25"),
    ("Free shipping over $50", "SHIPFREE"),
)


def discounts_page(discounts: DiscountSim, shop: str) -> Response:
    """Every discount of the shop with its codes: what Shopify's admin would list."""
    with discounts.lock:
        rows = [(d["title"], list(d["codes"])) for d in discounts.discounts.get(shop, [])]
    items = "".join(
        f"<li><strong>{escape(title)}</strong> ({len(codes)} codes)"
        f"<ul class='codes'>{''.join(f'<li>{escape(c)}</li>' for c in codes[:1000])}</ul></li>"
        for title, codes in rows
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Discounts · {escape(shop)} (simulated)</title></head><body>"
        f"<h1>Discounts of {escape(shop)}</h1><ul id='discounts'>{items}</ul></body></html>"
    )
    return Response(body, mimetype="text/html")


def _price(charge: dict) -> str:
    if "price" in charge:
        money = charge["price"]
        return f"{money['amount']} {money['currencyCode']} once"
    for item in charge["lineItems"]:
        details = item["plan"]["pricingDetails"]
        if details["__typename"] == "AppRecurringPricing":
            money = details["price"]
            return f"{money['amount']} {money['currencyCode']} every 30 days, plus usage"
    return ""


def charge_page(sim: BillingSim, request: Request, shop: str, rest: str) -> Response | None:
    """The merchant's confirmation page and its two buttons, or None for another path."""
    match = CHARGE_PATH.match(rest)
    if match is None:
        return None
    kind, number, action = match.groups()
    charge = sim.charge(kind, number)
    if charge is None or charge["shop"] != shop:
        return Response("No such charge", status=404)
    if action == "confirm" and request.method == "GET":
        body = PAGE.format(
            shop=escape(shop),
            name=escape(charge["name"]),
            price=escape(_price(charge)),
            status=escape(charge["status"]),
            test='<p class="test">Test charge: you will not be billed.</p>'
            if charge["test"]
            else "",
        )
        return Response(body, mimetype="text/html")
    if action in ("approve", "decline") and request.method == "POST":
        return redirect(sim.decide(charge["id"], approve=action == "approve"), 303)
    return Response("Method not allowed", status=405)


class BillingSimApp:
    """WSGI: the demo shop's Admin API (billing only) and the confirmation pages."""

    def __init__(self, sim: BillingSim, discounts: DiscountSim | None = None):
        self.sim = sim
        self.discounts = discounts or DiscountSim()

    def __call__(self, environ, start_response):
        request = Request(environ)
        shop, _, rest = request.path.lstrip("/").partition("/")
        response = charge_page(self.sim, request, shop, rest)
        if response is None and request.method == "GET" and rest == "admin/discounts":
            response = discounts_page(self.discounts, shop)
        if response is None and request.method == "POST" and GRAPHQL_PATH.match(rest):
            response = self._graphql(shop, request)
        if response is None:
            response = Response(
                json.dumps({"errors": "Not Found"}), 404, mimetype="application/json"
            )
        return response(environ, start_response)

    def _graphql(self, shop: str, request: Request) -> Response:
        try:
            body = json.loads(request.get_data() or b"{}")
            query, variables = body.get("query", ""), body.get("variables") or {}
            data = self.sim.resolve(shop, query, variables)
            if data is None:
                data = self.discounts.resolve(shop, query, variables)
        except (ValueError, AttributeError, KeyError, TypeError):
            data = None
        if data is None:
            answer = {"errors": [{"message": "The simulator does not support this query"}]}
        else:
            answer = {"data": data}
        return Response(json.dumps(answer), mimetype="application/json")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/webhooks/shopify")
    args = parser.parse_args(argv)
    # Signed with the app's own secret, as config.py reads it (the development default).
    secret = os.environ.get("SHOPIFY_API_SECRET") or "dev-only-insecure-secret"
    base_url = f"http://127.0.0.1:{args.port}"
    sim = BillingSim(secret, base_url, webhook_url=args.webhook_url)
    discounts = DiscountSim()
    for title, code in DEMO_DISCOUNTS:  # what the demo shop's picker lists
        discounts.seed(DEMO_SHOP, title, code)
    server = make_server("127.0.0.1", args.port, BillingSimApp(sim, discounts), threaded=True)
    print(f"Billing simulator on {base_url} (webhooks to {args.webhook_url})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
