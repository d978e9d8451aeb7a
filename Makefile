# The README's two commands are `make demo` and `make test`; both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Reinstall whenever pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# The same for the lab extra and the venv's kernelspec: installed by the first `make lab`, again only when
# pyproject.toml changes or the venv is reinstalled.
LAB_STAMP := $(VENV)/.lab-installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# And the dev extra (ruff, mypy), for `make lint`.
DEV_STAMP := $(VENV)/.dev-installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: demo test bench lint lab clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

# The demo notebooks, executed headless in a real kernel on this venv's Python; executed copies and HTML go to
# build/demo/ (the kernel's working folder, so the hub's .mastra/ is there too).
demo: $(STAMP)
	$(PY) -m mastra_nb.notebook.execute --clean --out build/demo $(sort $(wildcard notebooks/*.ipynb))

# JupyterLab on notebooks/, with a kernelspec inside the venv that runs the venv's Python, and the settings default a
# wheel installs (save widget state with the notebook), which the editable install leaves out.
$(LAB_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[lab]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mastra_nb)"
	mkdir -p $(VENV)/share/jupyter/lab/settings/overrides.d
	cp mastra_nb/notebook/lab/mastra_nb.json $(VENV)/share/jupyter/lab/settings/overrides.d/
	rm -f $(VENV)/.lab-installed-* && touch $@

lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/run.py

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.dev-installed-* && touch $@

lint: $(DEV_STAMP)
	$(PY) -m ruff check mastra_nb tests bench examples notebooks
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .mastra .pytest_cache build
