# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
MITTO_SIM_PORT ?= 8025
SHOPIFY_SIM_PORT ?= 8026
export PORT MITTO_SIM_PORT SHOPIFY_SIM_PORT
export ASTRONOTE_PORT := $(PORT)
export ASTRONOTE_ENV ?= development
# The built-in Mitto simulator, unless a real Mitto base URL was given.
export MITTO_API_BASE ?= http://127.0.0.1:$(MITTO_SIM_PORT)
# The demo shop buys credits from the built-in billing simulator (development only).
export SHOPIFY_BILLING_SIM_URL ?= http://127.0.0.1:$(SHOPIFY_SIM_PORT)

.PHONY: run test lint bench-contacts bench-contacts-quick bench-campaign migrate seed clean
.PHONY: bench-automations bench-automations-quick bench-links bench-reports bench-reports-quick

$(BIN)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(BIN)/.dev: $(BIN)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

instance:
	mkdir -p instance

migrate: $(BIN)/.runtime instance
	$(BIN)/flask --app wsgi db upgrade

seed: migrate
	$(BIN)/flask --app wsgi astronote seed-demo

## Start web (gunicorn) and worker (huey_consumer) on embedded defaults.
## The ports are checked first: a busy one stops here, before migrating or seeding.
run: $(BIN)/.runtime
	@$(BIN)/python -m astronote.devtools.ports PORT=$(PORT) MITTO_SIM_PORT=$(MITTO_SIM_PORT) SHOPIFY_SIM_PORT=$(SHOPIFY_SIM_PORT)
	@$(MAKE) --no-print-directory seed
	@echo ""
	@echo "  Astronote is starting on http://127.0.0.1:$(PORT)/"
	@echo "  (development sign-in: http://127.0.0.1:$(PORT)/dev/sign-in;"
	@echo "   Mitto simulator: $(MITTO_API_BASE); billing simulator: $(SHOPIFY_BILLING_SIM_URL))"
	@echo ""
	$(BIN)/honcho -f Procfile.dev start -p $(PORT)

## The whole suite; CI sets ASTRONOTE_TEST_*=required so missing servers fail.
test: $(BIN)/.dev
	ASTRONOTE_ENV=test $(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check astronote tests bench

bench-contacts: $(BIN)/.dev
	ASTRONOTE_ENV=test $(BIN)/python bench/contacts.py --rows 1000000

bench-campaign: $(BIN)/.dev
	ASTRONOTE_ENV=development $(BIN)/python bench/campaign.py --recipients 1000000

bench-contacts-quick: $(BIN)/.dev
	ASTRONOTE_ENV=test $(BIN)/python bench/contacts.py --rows 50000

## Automations: daily scans at 1,000,000 contacts, then 10,000 orders/create webhooks
## end to end (gunicorn, huey workers, Mitto simulator); both write docs/PERFORMANCE.md.
bench-automations: $(BIN)/.dev
	ASTRONOTE_ENV=development $(BIN)/python bench/automations_scans.py --contacts 1000000
	ASTRONOTE_ENV=development $(BIN)/python bench/automations_orders.py --webhooks 10000

bench-automations-quick: $(BIN)/.dev
	ASTRONOTE_ENV=development $(BIN)/python bench/automations_scans.py --quick
	ASTRONOTE_ENV=development $(BIN)/python bench/automations_orders.py --quick

## Short links: /l/<code> through gunicorn against a bare 302 in the same app (needs wrk).
## On a machine shared with other work, as root: make bench-links LINKS_NICE=-10
LINKS_NICE ?= 0
bench-links: $(BIN)/.dev
	ASTRONOTE_ENV=test $(BIN)/python bench/links.py --seconds 3 --rounds 24 --connections 16 \
		--messages 20000 --codes 5000 --flush-seconds 1 --nice $(LINKS_NICE)

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache

## Dashboard and reports at 10M messages of history: p95 against a bare rollup read.
bench-reports: $(BIN)/.dev
	ASTRONOTE_ENV=development $(BIN)/python bench/reports.py

bench-reports-quick: $(BIN)/.dev
	ASTRONOTE_ENV=development $(BIN)/python bench/reports.py --quick
