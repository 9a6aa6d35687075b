# Sportello URP. `make run`: set up and run everything with demo data. `make test`: set up and run the suite.
SHELL := /bin/bash
PY311 := $(shell scripts/find_python.sh 3.11)
VENV := .venv
URP := $(VENV)/bin/urp

.PHONY: run test setup setup-main setup-rasa setup-console setup-browser train migrate seed bench lock clean

run: setup migrate seed train
	$(URP) run

test: setup train
	scripts/test.sh

setup: setup-main setup-rasa setup-console setup-browser

# Debian's Chromium for the widget's browser test (Playwright drives it; it never downloads a browser). Only a
# warning where apt is unavailable, an error in CI
setup-browser:
	bash scripts/setup_browser.sh

# Bootstrap Italia, pinned by package-lock.json, vendored for the console (no CDN at run time)
setup-console:
	bash scripts/build_console.sh

setup-main: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -n "$(PY311)" || { echo "Python 3.11 is required"; exit 1; }
	test -x $(VENV)/bin/python || $(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# torch first, pinned: that version is a CPU build on local disk (anything else downloads GBs)
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test]'
	touch $@

setup-rasa:
	@if [ -f scripts/setup_rasa.sh ]; then bash scripts/setup_rasa.sh; fi

train: setup-rasa
	@if [ -f scripts/train.sh ]; then bash scripts/train.sh; fi

migrate: setup-main
	$(URP) db upgrade

seed: migrate
	$(URP) demo seed

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

# Regenerate the pins after changing dependencies in pyproject.toml
lock:
	$(VENV)/bin/pip freeze --exclude-editable | grep -v '^torch==' > constraints.txt

clean:
	rm -rf $(VENV) .venv-rasa var models node_modules crm/console/static/vendor
