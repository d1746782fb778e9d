"""Admin pages that show a shop's figures (flows, credits, reports, templates) answer
no-store like the other admin pages."""

from __future__ import annotations

PAGES = (
    "/automations",
    "/automations/welcome",
    "/automations/results?period=7",
    "/billing/",
    "/reports",
    "/templates",
)


def test_shop_figure_pages_are_not_stored(client, shop, doc_auth):
    for path in PAGES:
        response = client.get(path, headers=doc_auth)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
