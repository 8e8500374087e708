# Two commands for a newcomer: `make demo` (the sandbox store with demo data) and `make test`.
PYTHON ?= python3
VENV ?= .venv
# A second virtualenv without the optional extras (Wagtail), for `make test-core`.
CORE_VENV ?= .venv-core
PY := $(VENV)/bin/python
MANAGE := $(PY) sandbox/manage.py
HOST ?= 127.0.0.1:8000

.PHONY: demo install test test-core lint wheel-check messages benchmarks clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[sandbox,test,lint,wagtail]"
	touch $@

install: $(VENV)/.installed

## Set up the sandbox store with demo data (SQLite unless DATABASE_URL is set) and run it.
demo: install
	@if [ -n "$$DATABASE_URL" ] || [ ! -f sandbox/db.sqlite3 ]; then \
		$(MANAGE) migrate --noinput -v0 && \
		$(MANAGE) champions_demo --if-empty && \
		$(MANAGE) champions_refresh; \
	else \
		$(MANAGE) migrate --noinput -v0 && $(MANAGE) champions_demo --if-empty -v0; \
	fi
	@echo "The store: http://$(HOST)/   The dashboard: http://$(HOST)/dashboard/   Wagtail: http://$(HOST)/cms/ (admin@example.com / champions)"
	$(MANAGE) runserver $(HOST)

## Set up and run the whole test suite (SQLite unless DATABASE_URL is set).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

## The tests without the optional Wagtail extra, in their own virtualenv: the core must not need Wagtail (the
## Wagtail tests skip, the sandbox leaves Wagtail's apps out).
$(CORE_VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CORE_VENV)/bin/python -m pip install --quiet -e ".[sandbox,test]"
	touch $@

test-core: $(CORE_VENV)/.installed
	$(CORE_VENV)/bin/python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('wagtail') is not None)"
	$(CORE_VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m flake8 oscar_champions sandbox tests benchmarks
	$(PY) -m isort --check-only --diff oscar_champions sandbox tests benchmarks

## Build the wheel, install it into a fresh venv and migrate a throw-away database with it.
wheel-check: install
	bash .ci/wheel-check

## Update the pt_BR catalogue from the sources, then compile it (needs GNU gettext).
messages: install
	cd oscar_champions && ../$(PY) ../sandbox/manage.py makemessages -l pt_BR -e html,txt,py,svg --no-obsolete --no-location
	cd oscar_champions && ../$(PY) ../sandbox/manage.py compilemessages -l pt_BR

clean:
	rm -rf build dist *.egg-info $(VENV) $(CORE_VENV)
