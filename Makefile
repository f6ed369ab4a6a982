# swin_mm: every command a newcomer needs. `make demo` and `make test` set up .venv first.
# The environment is rebuilt only when this Makefile or setup.py changes (the stamp file below);
# pip's wheel cache keeps the slow mmcv build (~25 min on 2 cores) to once per machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.swin_mm-installed

.PHONY: env demo demo-seg test test-fast bench clean-env

env: $(STAMP)

$(STAMP): Makefile setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip "setuptools<80" wheel
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q mmengine==0.10.7 ninja psutil "numpy<2.3"
	MMCV_WITH_OPS=1 MAX_JOBS=2 $(PIP) install -q --no-build-isolation mmcv==2.1.0
	$(PIP) install -q mmdet==3.3.0 mmsegmentation==1.2.2 pycocotools ftfy regex \
		pytest hypothesis matplotlib
	$(PIP) install -q --no-build-isolation --no-deps -e .
	$(PY) -c "from mmcv.ops import RoIAlign, nms; import mmdet, mmseg, swin_mm"
	touch $@

demo: env
	$(PY) tools/demo.py

test: env
	$(PY) -m pytest -q tests

clean-env:
	rm -rf $(VENV)
