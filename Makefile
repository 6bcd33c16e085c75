# Two entry points (the README leads with them): `make demo` and `make test`.
# Each creates .venv on first use: torch first, then mmcv built against it with
# --no-build-isolation (from a wheelhouse when one is found), then the pinned rest.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Optional folder of prebuilt wheels, e.g. mmcv 2.1.0 with its compiled ops (building it
# from source takes ~22 min on 2 cores). Override with WHEELHOUSE=/path or WHEELHOUSE=.
WHEELHOUSE ?= $(firstword $(wildcard ../shared/wheels))
FIND_LINKS := $(if $(WHEELHOUSE),--find-links $(WHEELHOUSE))
pin = $(firstword $(shell grep -E '^$(1)==' requirements.txt))
PYTEST_ARGS ?=

.PHONY: venv demo test benchmark clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(call pin,torch) $(call pin,setuptools) $(call pin,wheel)
	$(PIP) install -q --no-build-isolation $(FIND_LINKS) -c requirements.txt $(call pin,mmcv)
	$(PIP) install -q $(FIND_LINKS) -r requirements.txt
	$(PIP) install -q --no-build-isolation --no-deps -e .
	touch $@

demo: venv
	$(PY) tools/demo.py

test: venv
	$(PY) -m pytest tests $(PYTEST_ARGS)

benchmark: venv
	$(PY) tools/analysis_tools/benchmark.py

clean:
	rm -rf $(VENV) work_dirs
