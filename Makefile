# The two commands a newcomer needs:
#   make run    create the environment, install, migrate and start the server (zero configuration)
#   make test   install what the tests need, check style and types, run the whole test suite
#
# Python >= 3.11 with its venv module is the only prerequisite (Debian/Ubuntu: apt install python3-venv).
# Dependencies come from uv.lock (exact versions), installed with a pinned uv bootstrapped into .venv-tools.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .venv-tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test check lint format bench clean

run: $(VENV)/.installed
	$(VENV)/bin/soundtime serve

test: $(VENV)/.installed-dev check
	$(VENV)/bin/pytest

check: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check soundtime tests bench alembic
	$(VENV)/bin/ruff format --check soundtime tests bench alembic
	$(VENV)/bin/mypy

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix soundtime tests bench alembic
	$(VENV)/bin/ruff format soundtime tests bench alembic

bench: $(VENV)/.installed-dev
	$(VENV)/bin/python bench/import_bench.py
	$(VENV)/bin/python bench/p2p_bench.py
	$(VENV)/bin/python bench/remote_bench.py

$(UV):
	$(PYTHON) -m venv .venv-tools
	.venv-tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Runtime dependencies only; --inexact keeps test tools installed by `make test`.
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --inexact --python $(PYTHON)
	touch $@

$(VENV)/.installed-dev: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON)
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) .venv-tools .mypy_cache .ruff_cache .pytest_cache
