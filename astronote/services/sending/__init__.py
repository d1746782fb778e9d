"""Sending: everything between a queued message row and Mitto's answer.

- `batches`: one batch of a campaign, chunk by chunk under the rate limits;
- `chunks`: take, check, render and fence a chunk, then send it to Mitto (`send_chunk`);
- `submission`: submit a fenced chunk and record every possible outcome;
- `single`: one-off messages (test sends, automations, replies) through the same guards;
- `delivery_reports`: apply Mitto delivery reports in bulk;
- `rate_limits`, `rate_limit_lua`, `frequency_cap`, `quiet_hours`: the send-time rules;
- `provider`: the process-wide Mitto client and rate limiter.

Transaction owners: `chunks`, `submission` and `batches` commit before every HTTP call,
so a crash never leaves a sent message that the database does not know about.
"""
