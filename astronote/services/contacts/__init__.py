"""Contacts: the shop's SMS subscribers at a million rows.

- `editing`: create, edit, delete and consent changes by hand;
- `listing`: keyset pages, indexed search and capped counts;
- `counts`: per-shop totals kept in step with every write;
- `fields`, `phones`: parse and validate what a form or a CSV gives us;
- `csv_import`: import a CSV (store, validate the whole file, then upsert in batches),
  with `csv_reading`, `csv_rows`, `upsert`, `upsert_pg`, `copy_rows` and `batch_writer`;
- `export`: stream contacts as CSV.

Transaction owners: `csv_import` and `batch_writer` commit each batch with its checkpoint.
"""
