# Two commands on a fresh machine: `make run` and `make test`. Both install what is missing.
PY  := .venv/bin/python
PIP := .venv/bin/pip -q --disable-pip-version-check

.PHONY: run test chat build bench clean

.venv/bin/python:
	python3 -m venv .venv

.venv/.runtime: requirements.txt | .venv/bin/python
	$(PIP) install -r requirements.txt
	touch $@

# torch first, from the CPU build on disk, so sentence-transformers does not pull CUDA.
.venv/.dev: requirements-dev.txt requirements-st.txt .venv/.runtime
	$(PIP) install -r requirements-dev.txt
	$(PIP) install torch==2.13.0
	$(PIP) install -r requirements-st.txt
	touch $@

# Debian's chromium for the browser test (Playwright drives it; it never downloads a browser).
.venv/.browser: scripts/install_browser.sh
	bash scripts/install_browser.sh || echo "chromium not installed: the browser test will be skipped" >&2
	touch $@

# A Chinese font for the staff report charts (fonts-wqy-microhei; matplotlib draws the labels with it).
.venv/.fonts: scripts/install_fonts.sh | .venv/bin/python
	bash scripts/install_fonts.sh || echo "no Chinese font installed: report charts number their bars" >&2
	touch $@

# Debian's PostgreSQL server for the shared-state tests (tests/pg.py starts a throwaway one on loopback).
.venv/.postgres: scripts/install_postgres.sh | .venv/bin/python
	bash scripts/install_postgres.sh || echo "PostgreSQL not installed: the PostgreSQL tests will be skipped" >&2
	touch $@

# Debian's nginx for the several-machines test (tests/test_workers.py runs docs/nginx.md's configuration).
.venv/.nginx: scripts/install_nginx.sh | .venv/bin/python
	bash scripts/install_nginx.sh || echo "nginx not installed: the nginx test will be skipped" >&2
	touch $@

run: .venv/.runtime .venv/.fonts
	$(PY) -m bot run

chat: .venv/.runtime
	$(PY) -m bot chat

build: .venv/.runtime
	$(PY) -m bot build

test: .venv/.dev .venv/.browser .venv/.fonts .venv/.postgres .venv/.nginx
	$(PY) -m pytest

bench: .venv/.dev
	$(PY) -m benchmarks.embedders
	$(PY) -m benchmarks.answers
	$(PY) -m benchmarks.telegram_bench

clean:
	rm -rf var
