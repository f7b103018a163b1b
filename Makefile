# Two commands set everything up: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install bench report clean chromium

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e . || $(BIN)/python -m pip install -q --no-deps -e .  # the `explorer` command
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run app.py

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -n 2 --dist worksteal tests

# Headless Chromium for the browser test (Debian's package; needs root). Without it that test skips.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
	  echo "chromium is not installed: the browser test will be skipped"

bench: $(STAMP)
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/analysis_speed.py
	$(BIN)/python bench/mechanisms_speed.py
	$(BIN)/python bench/landscape_speed.py
	$(BIN)/python bench/app_latency.py

report: $(STAMP)
	$(BIN)/python -m explorer report --root checkpoints --out docs/RESULTS.md

clean:
	rm -rf .cache .pytest_cache
