# vid_jax: `make demo` trains the default job on the built-in avatars; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
WORKDIR ?= runs/demo
CACHE  := runs/cache/avatars64

.PHONY: demo test bench install clean classifier evaluate

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Renders the 20,000-avatar cache once (tools/prepare_data.py), then trains configs/dcgan_avatars.py.
demo: $(VENV)/.installed
	test -f $(CACHE)/manifest.json || $(PY) tools/prepare_data.py --source=avatars --size=64 --limit=20000 --out=$(CACHE)
	$(PY) launch.py --config=configs/dcgan_avatars.py --workdir=$(WORKDIR)
	@echo "samples: $(WORKDIR)/samples/  (tensorboard --logdir $(WORKDIR))"

test: $(VENV)/.installed-test
	$(PY) -m pytest -n 2 -q tests

# Our train step vs the PyTorch peer in the same run; torch lives in its own venv (never a project dep).
bench: $(VENV)/.installed
	test -x .venv-torch/bin/python || ($(PYTHON) -m venv .venv-torch && .venv-torch/bin/pip install -q torch==2.13.0 numpy) || echo "torch unavailable: the peer will be skipped"
	$(PY) tools/benchmark.py --config=configs/dcgan_celeba64.py --batch=64 --steps=10 --rounds=3 --peer

# The attribute classifier behind domain FID/KID and attribute accuracy (docs/metrics.md).
classifier: $(VENV)/.installed
	test -f $(CACHE)/manifest.json || $(PY) tools/prepare_data.py --source=avatars --size=64 --limit=20000 --out=$(CACHE)
	$(PY) tools/train_classifier.py --config=configs/classifier_avatars.py --workdir=runs/classifier --config.data.cache_dir=$(CACHE)

evaluate: $(VENV)/.installed
	$(PY) tools/evaluate.py --workdir=$(WORKDIR) --classifier_workdir=runs/classifier

clean:
	rm -rf runs
