"""Thin Mitto client: HTTP calls, typed results and errors, callback parsing and signatures.

No database access. `client` sends, `results` parses send answers, `errors` classifies
failures, `callbacks` parses delivery reports and inbound messages, `signatures`
verifies the callbacks' HMAC.
"""
