# posagent — the two commands a fresh machine needs: `make demo` and `make test`.
# Each sets up what it needs itself (Debian packages when root, .venv, pip packages) and skips
# what is already there, so re-running is fast.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEBS   := pcscd vsmartcard-vpcd socat libpcsclite-dev tmux fuse3 postgresql chromium fonts-wqy-zenhei
STAMP  := $(VENV)/.installed

.PHONY: demo test setup system-packages bytecode bench clean docs readme

demo: setup
	$(PY) -m simulator.cli demo

test: setup
	@$(PY) -m pytest -q -p no:cacheprovider -n 3 --dist loadgroup --durations=15 -m "not serial"; rc1=$$?; \
	$(PY) -m pytest -q -p no:cacheprovider --durations=5 -m serial; rc2=$$?; \
	if [ $$rc1 -eq 5 ] || [ $$rc2 -eq 5 ]; then echo "make test: pytest collected no tests — failing on purpose" >&2; exit 1; fi; \
	if [ $$rc1 -ne 0 ]; then exit $$rc1; fi; exit $$rc2

bench: setup
	$(PY) -m bench

setup: system-packages $(STAMP) bytecode

# The project's bytecode, compiled beside its sources as installing a wheel compiles it: every process the
# demo and the tests start (daemons, the simulator, each command) then loads it instead of compiling ~130
# modules from source, which an environment with PYTHONDONTWRITEBYTECODE would do at every start. Only what
# changed since is compiled again; a stale file is never read (Python checks each source's time and size).
bytecode: $(STAMP)
	@$(PY) -m compileall -q -j 0 agent simulator posoffice tests bench >/dev/null

# Debian packages for the real PC/SC and serial stacks, PostgreSQL for the back office's tests, and Chromium
# with a CJK font for the office's web pages in a real browser.
# Installed only when running as root and only when one is missing; as a normal user the realstack
# and office tests skip (or fail under CI=true).
system-packages:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "not root: skipping Debian packages:$$missing (realstack tests will skip)"; fi; \
	fi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# pyscard compiles against libpcsclite-dev, so system packages come first.
$(STAMP): $(VENV)/bin/python setup.cfg pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,office]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
	find agent simulator posoffice tests bench -name __pycache__ -prune -exec rm -rf {} +

# Regenerate the parts of docs/ that come from the code: the configuration reference, the roles table
# and the state diagrams (tests check they match). `readme` is its old name.
docs: setup
	$(PY) docs/generate.py

readme: docs
