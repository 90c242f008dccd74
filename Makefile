# Everyday commands. `make demo` and `make test` are the two the README opens with.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
# Two processes: the suite spends much of its time waiting on gunicorn, Chromium and databases.
PYTEST_ARGS ?= -n 2

.PHONY: install demo run test test-sqlite test-pg lint format migrate bench messages

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/pybabel compile -d translations
	touch $@

## Install, migrate, load the demo (once) and serve it at http://$(HOST):$(PORT)
demo: install
	$(BIN)/flask --app app demo seed --if-empty
	$(BIN)/gunicorn wsgi:app --bind $(HOST):$(PORT) --workers 2 --threads 4 --access-logfile -

## Serve whatever database DATABASE_URL names (migrating it first); needs SECRET_KEY
run: install migrate
	STOCKROOM_ENV=$${STOCKROOM_ENV:-production} $(BIN)/gunicorn wsgi:app --bind $(HOST):$(PORT) --workers 2 --threads 4 --access-logfile -

migrate: install
	$(BIN)/flask --app app db upgrade

## The whole suite on SQLite, then again on PostgreSQL
test: install test-sqlite test-pg

test-sqlite:
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-pg:
	TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark script; not the shared modules (_*.py) nor forecast_tuning.py, which is a
# tuning tool (about half an hour), not a benchmark with targets.
BENCHMARKS := $(filter-out benchmarks/_% benchmarks/forecast_tuning.py,$(wildcard benchmarks/*.py))

bench: install
	@for script in $(BENCHMARKS); do echo "== $$script"; $(BIN)/python $$script || exit 1; done

## Re-extract the UI texts and add new ones (untranslated) to every language's catalog
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ --no-location --sort-output --no-wrap \
		-o translations/messages.pot core accounts inventory forecasting procurement logistics
	$(BIN)/pybabel update -i translations/messages.pot -d translations -D messages --no-fuzzy-matching --no-wrap
	$(BIN)/pybabel compile -d translations
