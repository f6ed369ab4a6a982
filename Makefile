# swin_mm: every command a newcomer needs. `make demo` and `make test` set up .venv first.
# The environment is rebuilt only when this Makefile or setup.py changes (the stamp file below);
# pip's wheel cache keeps the slow mmcv build (~25 min on 2 cores) to once per machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.swin_mm-installed

.PHONY: env demo demo-v2 demo-seg test clean-env

env: $(STAMP)

$(STAMP): Makefile setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip "setuptools<80" wheel
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q mmengine==0.10.7 ninja psutil "numpy<2.3"
	MMCV_WITH_OPS=1 MAX_JOBS=2 $(PIP) install -q --no-build-isolation mmcv==2.1.0
	$(PIP) install -q mmdet==3.3.0 mmsegmentation==1.2.2 pycocotools ftfy regex \
		pytest hypothesis matplotlib onnx==1.23.2 onnxscript==0.7.2 onnxruntime==1.32.0
	$(PIP) install -q --no-build-isolation --no-deps -e .
	$(PY) -c "from mmcv.ops import RoIAlign, nms; import mmdet, mmseg, swin_mm"
	touch $@

DEMO_DIR := work_dirs/demo_mask_rcnn
DEMO_CFG := configs/toy/mask_rcnn_swin_t_toy.py
DEMO_IMAGE := 000000.jpg
SEG_DIR := work_dirs/demo_upernet
SEG_CFG := configs/toy/upernet_swin_t_toy.py

# $(call set_aside_if_stale,WORK_DIR,DATA_DIR): a demo run trained on toy data that has since been
# rewritten (a newer generator) would be resumed as finished and scored on data it never saw: move
# it aside (never deleted) so that the demo trains anew.
define set_aside_if_stale
	@if [ -f $(1)/last_checkpoint ] && [ $(2)/.swin_mm_toy.json -nt $(1)/last_checkpoint ]; then \
		old=$(1).before-$$(date +%Y%m%d-%H%M%S); mv $(1) $$old; \
		echo "$(2) was rewritten since $(1) trained on it: moved to $$old, training anew"; fi
endef

# Generate the toy COCO set, train Mask R-CNN Swin-T (resuming: a finished run is not redone),
# evaluate with the COCO table, draw predictions, then what the backbone sees in one validation
# image (features, windows, attention, CAMs of the top box). Curves: $(DEMO_DIR)/curves.png.
demo: env
	$(PY) tools/make_toy_data.py coco data/toy_coco
	$(call set_aside_if_stale,$(DEMO_DIR),data/toy_coco)
	$(PY) tools/train.py $(DEMO_CFG) --work-dir $(DEMO_DIR) --resume
	$(PY) tools/test.py $(DEMO_CFG) $$(cat $(DEMO_DIR)/last_checkpoint) --work-dir $(DEMO_DIR)/test \
		--show-dir predictions --cfg-options test_evaluator.classwise=True
	$(PY) tools/visualize.py $(DEMO_CFG) $$(cat $(DEMO_DIR)/last_checkpoint) \
		data/toy_coco/val2017/$(DEMO_IMAGE) --out $(DEMO_DIR)/visualize
	@echo "curves: $(DEMO_DIR)/curves.png  predictions: $(DEMO_DIR)/test/*/predictions/"
	@echo "what the backbone sees: $(DEMO_DIR)/visualize/index.html"

# The same demo with Mask R-CNN SwinV2-T (residual post-norm, cosine attention, position-bias MLP).
demo-v2:
	$(MAKE) demo DEMO_CFG=configs/toy/mask_rcnn_swinv2_t_toy.py DEMO_DIR=work_dirs/demo_mask_rcnn_v2

# The same for segmentation: UperNet Swin-T on the toy ADE20K-format set, mIoU table.
demo-seg: env
	$(PY) tools/make_toy_data.py ade data/toy_ade
	$(call set_aside_if_stale,$(SEG_DIR),data/toy_ade)
	$(PY) tools/train.py $(SEG_CFG) --work-dir $(SEG_DIR) --resume
	$(PY) tools/test.py $(SEG_CFG) $$(cat $(SEG_DIR)/last_checkpoint) --work-dir $(SEG_DIR)/test \
		--show-dir $(SEG_DIR)/test/predictions
	$(PY) tools/visualize.py $(SEG_CFG) $$(cat $(SEG_DIR)/last_checkpoint) \
		data/toy_ade/images/validation/000000.jpg --out $(SEG_DIR)/visualize
	@echo "curves: $(SEG_DIR)/curves.png  predictions: $(SEG_DIR)/test/predictions/"
	@echo "what the backbone sees: $(SEG_DIR)/visualize/index.html"

test: env
	$(PY) -m pytest -q tests

clean-env:
	rm -rf $(VENV)
