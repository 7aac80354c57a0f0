# One target per user task (`make help` lists them). The first two are all a newcomer needs:
#   make lab      open the labs in JupyterLab (sets up .venv, the student install, if missing)
#   make test     re-run every notebook and every test (what CI runs)
#   make test-fast  the fast tier, while you work (under two minutes, no root needed)
# Instructors:
#   make release  regenerate the student labs in notebooks/ from solutions/
#   make validate check that every solution scores full marks and every student lab zero
#   make lint     ruff on the package, the tests and every notebook's code cells
#   make collect ZIP=download.zip   fill submitted/ from an LMS download
#   make grade    grade every submission under submitted/ (sandboxed), write grades.csv
#   make feedback write each student's HTML feedback to feedback/
#   make export   write grades.csv again from the gradebook (after manual grading)
#   make lock     refresh requirements.lock (every package's version) after changing a pin
#   make bench    time grading a generated class, stock nbgrader against ours, and compare scores;
#                 time the students' checks
#   make help     this list

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Two installs into one .venv: the student's (`make lab`: the labs' runtime and the checks) and the
# instructor's and tests' (every other target: nbgrader, Dask, pytest...), which holds the first.
LAB_STAMP := $(VENV)/.installed-lab
STAMP     := $(VENV)/.installed-stamp
PORT   ?= 8888

.PHONY: help lab test test-fast lock release validate lint env clean system-tools grade collect feedback export bench

# The course's own labs (01_derivatives, ...): nbval re-runs them and ruff lints them. An
# assignment an instructor brings (solutions/ps1, say) is released and graded like them, but is
# not held to the course's rules.
COURSE_SOLUTIONS := $(wildcard solutions/[0-9][0-9]_*)
COURSE_NOTEBOOKS := $(wildcard notebooks/[0-9][0-9]_*)

# JupyterLab on this machine only (127.0.0.1), opened on the first student lab, without its news
# feed or update check (grader/cli.py's `lab`, the student's one verb).
LAB_ARGS ?=

help:
	@sed -n 's/^#   make /make /p; s/^#                 /                /p' Makefile

lab: $(LAB_STAMP)
	$(BIN)/python -m grader lab --port=$(PORT) $(LAB_ARGS)

# axe-core, the accessibility engine the browser tests run in Chromium: npm, pinned in
# package-lock.json.
AXE := node_modules/axe-core/axe.min.js

$(AXE): package.json package-lock.json | system-tools
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# nbval re-runs every solution and compares its saved outputs; tests/ checks everything else.
# pytest ends with the 25 slowest tests and their times, where a slower run shows its cause.
test: $(STAMP) system-tools $(AXE) lint
	$(BIN)/python -m pytest --durations=25 $(NBVAL) tests $(COURSE_SOLUTIONS)

# The fast tier, while you work: everything that needs no kernel sandbox, no browser and no
# class to grade, in under two minutes, as any user (tests that need root skip, with why).
test-fast: $(STAMP) lint
	TEST_TIER=fast $(BIN)/python -m pytest -m "not slow and not browser" -p no:cacheprovider tests

NBVAL := --nbval --nbval-current-env --nbval-cell-timeout=120 \
         --nbval-sanitize-with tests/nbval-sanitize.cfg

release: $(STAMP)
	$(BIN)/python -m grader release

validate: $(STAMP)
	$(BIN)/python -m grader validate

collect: $(STAMP)
	@test -n "$(ZIP)" || { echo "usage: make collect ZIP=path/to/download.zip"; exit 2; }
	$(BIN)/python -m grader collect "$(ZIP)"

grade: $(STAMP) system-tools
	$(BIN)/python -m grader grade

feedback: $(STAMP)
	$(BIN)/python -m grader feedback

export: $(STAMP)
	$(BIN)/python -m grader export

# A benchmark, not a test: a generated class graded by stock nbgrader and by ours in one run, with
# wall times, notebooks per second, the ratio, the per-notebook floor and whether every grade
# cell's score matched (exit status 1 if one did not). A few minutes with the defaults; a bigger
# class: make bench BENCH_ARGS="--students 200". `python bench/grading.py --help` for the rest.
# Then an assignment an instructor brings (nbgrader's ps1), released and graded for the first
# time by both (bench/first_grading.py). Last, the client's intake: how many graded notebooks a
# second grade_class takes into SQLite and into PostgreSQL when a cluster answers at once, before
# and after batching (bench/intake.py).
BENCH_ARGS ?=

bench: $(STAMP) system-tools
	$(BIN)/python bench/checks.py
	$(BIN)/python bench/grading.py $(BENCH_ARGS)
	$(BIN)/python bench/first_grading.py
	$(BIN)/python bench/intake.py

lint: $(STAMP)
	$(BIN)/ruff check grader tests bench nbgrader_config.py $(COURSE_SOLUTIONS) $(COURSE_NOTEBOOKS)

env: $(STAMP)

# The environment is made once and remade only when the pins (pyproject.toml) or the lock change.
# requirements.lock holds the version of every package of the environment, dependencies of
# dependencies included (jupyter_client, ipykernel, pyzmq, tornado...): installs use it as
# constraints, so every machine grades with the same code. Any Python that pyproject.toml's
# requires-python admits will do; CI runs 3.11.
define make_venv
	@$(PYTHON) -c 'import sys; v = sys.version.split()[0]; \
	  sys.version_info >= (3, 11) or sys.exit("the course needs Python 3.11 or newer; found " + v); \
	  sys.version_info[:2] == (3, 11) or print("note: CI runs Python 3.11; on", v, \
	  "the course relies on what its packages support")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
endef

$(LAB_STAMP): pyproject.toml requirements.lock
	$(make_venv)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e .
	touch $@

$(STAMP): pyproject.toml requirements.lock
	$(make_venv)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[grader,test]'
	touch $@ $(LAB_STAMP)

# Refresh the lock after changing a pin: a new environment from pyproject.toml alone, frozen.
# Versions are written without a local label (torch 2.13.0, not 2.13.0+cpu): the same lock then
# serves PyPI's torch on a Mac or on Windows, and still admits the CPU build where it is found.
lock:
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet --upgrade pip
	build/lock-venv/bin/python -m pip install --quiet -e '.[grader,test]'
	{ echo "# Every package of the course environment, at the version it was tested with."; \
	  echo "# Made by \`make lock\` from pyproject.toml; installs take it as constraints."; \
	  build/lock-venv/bin/python -m pip freeze --exclude-editable | sed 's/+[A-Za-z0-9.]*$$//'; \
	  } > requirements.lock
	rm -rf build/lock-venv

# Grading runs each student's kernel in a bubblewrap sandbox (grader/grading/sandbox.py); the browser
# test drives Debian's chromium (with axe-core from npm); Lab 7 draws its graphs with graphviz's
# dot; the gradebook's PostgreSQL test and `make bench` start a PostgreSQL server of their own
# (tests/postgres_server.py). Each comes from Debian's packages, and only the missing ones are
# installed: a machine whose Node.js carries its own npm (NodeSource's) refuses Debian's npm
# package beside it.
system-tools:
	@missing=""; \
	  command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	  test -x /usr/bin/chromium || missing="$$missing chromium"; \
	  command -v dot >/dev/null || missing="$$missing graphviz"; \
	  command -v npm >/dev/null || missing="$$missing npm"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  test -z "$$missing" || { apt-get update -qq && apt-get install -y -qq $$missing; }

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache gradebook.db
