"""Reports: a daily rollup per shop, local day and source, and the pages that read it.

Contract of the rollup (table `report_daily`, model ReportDaily):

- Key: (shop_id, day, source_kind, source_id). `day` is the calendar day in the shop's
  zone; `source_kind` is 'campaign' (source_id = campaigns.id), 'flow'
  (automations.id; 'automation' is accepted as an alias) or 'other' (source_id 0: test
  sends, replies, keyword answers, subscriptions).
- Counters, all integers: sent, delivered, failed, clicks, unique_clicks, orders,
  revenue_cents and refunds_cents (shop currency, minor units), opt_outs,
  new_subscribers, credits.
- `rollups.bump(shop_id, at, source_kind, source_id, **deltas)` adds deltas (negative
  allowed) to one row; `rollups.bump_many(rows)` takes mappings with the same keys for a
  batch. `at` is a UTC datetime (the shop's day is derived from it) or a local date.
  Both group in Python and run ONE upsert (INSERT ... ON CONFLICT DO UPDATE SET
  col = col + excluded.col), flush only: the caller commits, in the same transaction
  as the change it counts, so a rolled-back change leaves no count behind.
- Which day: message counters (sent, delivered, failed, credits) on the message's send
  day (hooks.py); clicks on the click's day; orders, revenue and refunds on the order's
  or refund's day; opt-outs and new subscribers on the day they happened.
- Who bumps: the send path (sent, credits; failed before sending), the delivery-report
  batch (delivered/failed, moving between them), consent changes (record_consent:
  new subscribers, opt-outs against the last message's source within 7 days), clicks
  (services/links) and attribution (orders, revenue, refunds) through `bump_many`.

Not counted incrementally (the backfill recomputes them): messages a reconciler marks
unknown after a worker died (sent, credits), refunds of messages found never sent,
consent changed by bulk imports and customer syncs.

Backfill: `flask astronote reports backfill [--shop DOMAIN]` recomputes the message,
click and consent counters from the base tables, set-based per shop, replacing what the
rollup holds for them (orders and revenue are left alone: attribution owns them). New
data needs no backfill; run it once after deploying, or to repair a shop.
"""
