# Aura Studio: `make run` serves the studio on its embedded defaults, `make test` runs the suite.
# The environment may turn off writing bytecode (PYTHONDONTWRITEBYTECODE); the installed packages
# are compiled once at setup, so that each of the many processes the suite starts does not
# compile them again.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
PY := .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup lint typecheck check fmt bench worker clean

.venv/.synced: pyproject.toml uv.lock .python-version
	@python3 -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@touch $@

setup: .venv/.synced

run: setup
	@mkdir -p data
	$(PY) manage.py migrate --noinput
	@echo ""
	@echo "  Aura Studio is starting at http://$(HOST):$(PORT)/"
	@echo "  Create your account at http://$(HOST):$(PORT)/accounts/signup/"
	@echo "  (staff admin: .venv/bin/python manage.py createsuperuser, then http://$(HOST):$(PORT)/admin/)"
	@echo ""
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(PY) -m aura_site.serve -e tcp:port=$(PORT):interface=$(HOST):backlog=1024 aura_site.asgi:application

test: setup
	@mkdir -p data
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadgroup $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	.venv/bin/lint-imports

typecheck: setup
	$(PY) -m mypy .

check: lint typecheck test

fmt: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

worker: setup
	$(PY) -m celery -A aura_site worker -l info -Q aura

clean:
	rm -rf .venv data .pytest_cache .mypy_cache .ruff_cache
