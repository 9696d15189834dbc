# The two commands of the README: `make repro` (the main job) and `make test`.
# Both create .venv from requirements.lock when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# stage commands (bpmult, papermill's kernel) come from the venv without activating it
RUN := PATH="$(CURDIR)/$(BIN):$$PATH"
STAMP := $(VENV)/.installed

.PHONY: repro test lab venv clean-venv

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

venv: $(STAMP)

repro: $(STAMP)
	$(RUN) dvc repro
	@echo "report: reports/index.html"

test: $(STAMP)
	$(RUN) python -m pytest -q

lab: $(STAMP)
	$(RUN) jupyter lab --notebook-dir=notebooks --allow-root --no-browser

clean-venv:
	rm -rf $(VENV)
