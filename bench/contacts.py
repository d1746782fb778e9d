"""Contacts at scale: CSV import throughput and list-page latency, with baselines.

    python bench/contacts.py --rows 1000000 [--backend postgresql|sqlite] [--out PATH|none]

Starts a throwaway database (a private PostgreSQL server by default), migrates
it, generates a realistic CSV and measures, in the same run:

- a bare COPY (SQLite: executemany) of the same clean rows: the baseline;
- the real import: contact_import.store_upload + run_import, what the upload
  view and the Huey task run, with peak RSS of a small and the full import;
- list-page server time through the Flask test client with a session token,
  against a bare indexed SELECT on the same table;
- CSV export throughput.

Prints Markdown and, for a 1M-row PostgreSQL run (or with --out), replaces
the Contacts section of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import common  # noqa: E402  (after the sys.path line above)
from bench import contacts_measure as measure  # noqa: E402
from bench.contacts_data import generate  # noqa: E402
from bench.contacts_report import render  # noqa: E402

WORKDIR = Path(tempfile.mkdtemp(prefix="astronote-bench-"))

API_KEY, API_SECRET = "bench-api-key", "bench-api-secret-that-is-32-bytes-long!"
SHOP_DOMAIN = "bench.myshopify.com"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument(
        "--probe-rows",
        type=int,
        default=None,
        help="rows of the smaller import whose peak RSS is compared",
    )
    parser.add_argument(
        "--out",
        default="auto",
        help="file whose Contacts section to replace; 'none' to skip "
        "(default: docs/PERFORMANCE.md for 1M+ rows on PostgreSQL)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


def build_app(url: str):
    from astronote import create_app

    config = {
        "ASTRONOTE_ENV": "test",
        "HUEY_SQLITE_PATH": str(WORKDIR / "huey.db"),
        "HUEY_IMMEDIATE": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": API_SECRET,
        "SECRET_KEY": "bench-secret-key",
    }
    if url.startswith("postgresql"):
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": 5, "max_overflow": 5}
    app = create_app(config)
    log_file = (WORKDIR / "app.log").open("a")  # JSON request logs still formatted, not shown
    for handler in logging.getLogger("astronote").handlers:
        handler.setStream(log_file)
    return app


def make_shop(domain: str):
    from astronote.extensions import db
    from astronote.models import Shop

    shop = Shop(
        shop_domain=domain,
        name=domain.split(".")[0].title(),
        default_region="US",
        timezone="America/New_York",
    )
    if hasattr(Shop, "access_token_enc"):  # installed: requests skip the token exchange
        from astronote.services.shopify import tokens as shop_tokens

        shop.access_token_enc = shop_tokens.encrypt("bench-offline-token")
    db.session.add(shop)
    db.session.commit()
    return shop.id


def headers(htmx: bool) -> dict:
    from tests.fakes.shopify_server import sign_session_token

    token = sign_session_token(API_KEY, API_SECRET, SHOP_DOMAIN, exp_offset=3600)
    return {"Authorization": f"Bearer {token}", **({"HX-Request": "true"} if htmx else {})}


def pages(app, shop_id: int, data, repeat: int) -> tuple[dict, dict]:
    deep = measure.cursor_at(shop_id, int(data.good * 0.9))
    htmx = headers(htmx=True)
    token = htmx["Authorization"].removeprefix("Bearer ")
    cases = [
        ("First page (full document)", f"/contacts?id_token={token}", {}),
        ("First page (htmx)", "/contacts", htmx),
        ("Deep keyset page (90% down)", f"/contacts?after={deep}", htmx),
        ("Name prefix search `mar`", "/contacts?q=mar", htmx),
        ("Full name search `maria smith`", "/contacts?q=maria+smith", htmx),
        ("Phone prefix search `+1 415 2`", "/contacts?q=%2B1+415+2", htmx),
        ("Email search (exact address)", f"/contacts?q={data.sample_email}", htmx),
        ("Tag filter `vip`", "/contacts?tag=vip", htmx),
        ("Consent filter `pending`", "/contacts?consent=pending", htmx),
        ("Consent + tag `subscribed` & `b2b`", "/contacts?consent=subscribed&tag=b2b", htmx),
        ("Search term that is a tag `vip`", "/contacts?q=vip", htmx),
    ]
    client = app.test_client()
    results = {}
    for label, url, hdrs in cases:
        results[label] = measure.time_page(client, url, hdrs, repeat)
    return results, measure.baseline_page_sql(shop_id, repeat)


def checkpoint(server) -> None:
    """Flush the previous phase's dirty pages so that it does not bill the next one."""
    if server is not None:
        import psycopg

        with psycopg.connect(server.conninfo, autocommit=True) as conn:
            conn.execute("CHECKPOINT")


def postmaster_pid(server) -> int | None:
    if server is None:
        return None
    return int((server.data_dir / "postmaster.pid").read_text().split()[0])


def run(args) -> dict:
    from flask_migrate import upgrade

    from astronote.extensions import db
    from tests import servers

    server = servers.start_postgres(WORKDIR / "pg") if args.backend == "postgresql" else None
    try:
        url = server.url if server else f"sqlite:///{WORKDIR / 'bench.db'}"
        app = build_app(url)
        with app.app_context():
            upgrade(directory=str(common.ROOT / "migrations"))
            shop = make_shop(SHOP_DOMAIN)
            probe_shop = make_shop("probe.myshopify.com")
            started = time.perf_counter()
            data = generate(WORKDIR, args.rows)
            probe_rows = args.probe_rows or max(1000, args.rows // 10)
            probe_dir = WORKDIR / "probe"
            probe_dir.mkdir()
            probe = generate(probe_dir, probe_rows, seed=7)
            result = {"args": vars(args), "data": data, "generate_s": time.perf_counter() - started}
            print(f"generated {args.rows:,} + {probe_rows:,} rows", file=sys.stderr)
            if server:
                result["baseline"] = measure.baseline_postgres(server.conninfo, data, shop)
                result["server"] = server_version(server.conninfo)
            else:
                result["baseline"] = measure.baseline_sqlite(str(WORKDIR / "bench.db"), data, shop)
                result["server"] = "SQLite " + __import__("sqlite3").sqlite_version
            pid = postmaster_pid(server)
            for name, shop_id, dataset in (("probe", probe_shop, probe), ("import", shop, data)):
                checkpoint(server)
                print(f"importing {dataset.rows:,} rows ({name})", file=sys.stderr)
                result[name] = measure.run_import(shop_id, dataset.csv_path, pid)
            result["probe"]["rows"] = probe_rows
            result["stored"] = measure.stored_counts(shop)
            print("timing list pages", file=sys.stderr)
            result["pages"], result["page_baseline"] = pages(app, shop, data, args.requests)
            result["export"] = measure.time_export(app.test_client(), headers(htmx=False))
            # The update path: the probe file's phones are the first of the big file's.
            checkpoint(server)
            print(f"re-importing {probe_rows:,} rows (updates)", file=sys.stderr)
            result["reimport"] = measure.run_import(shop, probe.csv_path, pid)
            db.session.remove()
            db.engine.dispose()
        return result
    finally:
        if server:
            server.stop()


def server_version(conninfo: str) -> str:
    import psycopg

    with psycopg.connect(conninfo) as conn:
        return "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0].split()[0]


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    finally:
        if not args.keep:
            shutil.rmtree(WORKDIR, ignore_errors=True)
    command = "python bench/contacts.py " + " ".join(sys.argv[1:] if argv is None else argv)
    body, ok = render(result, command.strip())
    print(body)
    out = args.out
    if out == "auto":
        out = (
            str(common.PERFORMANCE_MD)
            if (args.rows >= 1_000_000 and args.backend == "postgresql")
            else "none"
        )
    if out != "none":
        common.write_section("Contacts", body, Path(out))
        print(f"\nWrote the Contacts section of {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
