# Two entry points (the README leads with them): `make demo` and `make test`.
# Each creates the environment on first use: torch first, then mmcv built against it with
# --no-build-isolation (from a wheelhouse when one is found), then the pinned rest.
#
# DEVICE=cuda (e.g. `make venv DEVICE=cuda`) makes .venv-cuda instead: PyPI's torch wheel
# (built with CUDA; TORCH_PIP_ARGS picks another index, e.g. one of pytorch.org's CUDA
# builds), then mmcv built from source with its CUDA ops for TORCH_CUDA_ARCH_LIST (default:
# the visible GPU's compute capability), never from the CPU wheelhouse or pip's cache.
PYTHON ?= python3
DEVICE ?= cpu
VENV ?= $(if $(filter cuda,$(DEVICE)),.venv-cuda,.venv)
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Optional folder of prebuilt wheels, e.g. mmcv 2.1.0 with its compiled CPU ops (building it
# from source takes ~22 min on 2 cores). Override with WHEELHOUSE=/path or WHEELHOUSE=.
WHEELHOUSE ?= $(firstword $(wildcard ../shared/wheels))
FIND_LINKS := $(if $(WHEELHOUSE),--find-links $(WHEELHOUSE))
TORCH_PIP_ARGS ?=
TORCH_CUDA_ARCH_LIST ?=
pin = $(firstword $(shell grep -E '^$(1)==' requirements.txt))
PYTEST_ARGS ?=

# Deployment (`make deploy-venv`): mmdeploy in its own environment, layered on $(VENV) by a
# .pth file, so that its pins never touch the main one (requirements-deploy.txt says why).
DEPLOY_VENV ?= .venv-deploy

.PHONY: venv deploy-venv demo test test-all benchmark clean

venv: $(VENV)/.installed

ifeq ($(DEVICE),cuda)
$(VENV)/.installed: requirements.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH_PIP_ARGS) $(call pin,torch) $(call pin,setuptools) $(call pin,wheel)
	arch="$(TORCH_CUDA_ARCH_LIST)"; \
	[ -n "$$arch" ] || arch=$$($(PY) -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())") \
	  || { echo 'No GPU visible: set TORCH_CUDA_ARCH_LIST, e.g. TORCH_CUDA_ARCH_LIST="8.0;9.0"'; exit 1; }; \
	echo "Building mmcv's CUDA ops for TORCH_CUDA_ARCH_LIST=$$arch"; \
	MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$$arch" $(PIP) install -q \
	  --no-build-isolation --no-cache-dir --no-binary mmcv -c requirements.txt $(call pin,mmcv)
	$(PY) -c "from mmcv.ops import get_compiling_cuda_version as v; \
	  assert v() != 'not available', 'mmcv was built without CUDA ops'; print('mmcv CUDA ops:', v())"
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-build-isolation --no-deps -e .
	touch $@
else
$(VENV)/.installed: requirements.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(call pin,torch) $(call pin,setuptools) $(call pin,wheel)
	$(PIP) install -q --no-build-isolation $(FIND_LINKS) -c requirements.txt $(call pin,mmcv)
	$(PIP) install -q $(FIND_LINKS) -r requirements.txt
	$(PIP) install -q --no-build-isolation --no-deps -e .
	touch $@
endif

deploy-venv: $(DEPLOY_VENV)/.installed

$(DEPLOY_VENV)/.installed: $(VENV)/.installed requirements-deploy.txt
	$(PYTHON) -m venv $(DEPLOY_VENV)
	main=$$($(PY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"); \
	own=$$($(DEPLOY_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"); \
	echo "import site; site.addsitedir('$$main')" > $$own/mmevit_main_env.pth
	$(DEPLOY_VENV)/bin/python -m pip install -q --no-deps -r requirements-deploy.txt
	$(DEPLOY_VENV)/bin/python -c "import mmdeploy.apis, mmevit; print('mmdeploy', mmdeploy.__version__)"
	touch $@

demo: venv
	$(PY) tools/demo.py

test: venv deploy-venv
	$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

# the whole suite: also the tests marked slow (the compiled tools on CPU, the deployment of
# the architecture grid), about 7 more minutes on 2 cores
test-all: venv deploy-venv
	$(PY) -m pytest tests $(PYTEST_ARGS)

benchmark: venv
	$(PY) tools/benchmark.py $(if $(filter cuda,$(DEVICE)),--settings gpu kernels --device cuda --out docs/benchmark_gpu.json)

clean:
	rm -rf .venv .venv-cuda .venv-deploy work_dirs
