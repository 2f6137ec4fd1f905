# vid_jax: `make demo` trains the default job on the built-in avatars; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEMO   ?= runs/demo
WORKDIR ?= $(DEMO)/gan
CACHE  := runs/cache/avatars64

.PHONY: demo models test test-slow lint fmt bench install clean classifier evaluate

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The identity designer end to end on the built-in avatars (docs/identity.md): renders the 20,000-avatar
# cache once, trains what the designer needs at a budget that fits 20 minutes on 2 cores (the demo GAN,
# a short attribute classifier, the nickname model; each resumes or is skipped when already there) to show
# training, then designs 16 identities across three locales into $(DEMO)/identities/ (open index.html)
# with the shipped zoo's models (zoo/, `make models`); an entry absent from zoo/ is replaced by the demo's.
DEMO_MODELS = $(if $(wildcard zoo/avatar_gan/card.json),,--workdir=$(DEMO)/gan) \
    $(if $(wildcard zoo/classifier/card.json),,--classifier_workdir=$(DEMO)/classifier) \
    $(if $(wildcard zoo/nickname/card.json),,--nickname_workdir=$(DEMO)/nickname)
demo: $(VENV)/.installed
	$(PY) tools/prepare_data.py --source=avatars --size=64 --limit=20000 --out=$(CACHE) --if_stale
	$(PY) launch.py --config=configs/cdcgan_avatars.py:demo --workdir=$(DEMO)/gan
	test -f $(DEMO)/classifier/classifier.json || $(PY) tools/train_classifier.py \
	    --config=configs/classifier_avatars.py:steps=400 --workdir=$(DEMO)/classifier --config.data.cache_dir=$(CACHE)
	$(PY) tools/train_nickname.py --config=configs/nickname.py --workdir=$(DEMO)/nickname
	$(PY) tools/design.py --num=16 --locale=en_US,zh_CN,ja_JP --keywords=music,travel --seed=0 --out=$(DEMO)/identities $(strip $(DEMO_MODELS))
	@echo "identities: $(DEMO)/identities/index.html  (GAN samples: $(DEMO)/gan/samples/, tensorboard --logdir $(DEMO))"

# The model zoo the designer ships with (zoo/, <= 60 MB; vid_jax/zoo.py, README "Model zoo"), retrained from
# scratch with the project's tools and exported with tools/export_zoo.py: the attribute classifier, the avatar
# GAN (evaluated with that classifier for its card), the nickname model, the GAN's encoder. Long (hours on a CPU); each training
# resumes or is skipped when done. The cards' wall time sums the timed invocations (runs/zoo/NAME.wall_s);
# ZOO_MACHINE="CPU model, cores" names the training machine (default: the one exporting).
ZOO_RUNS := runs/zoo
ZOO_MACHINE ?=
RETRAIN_CLASSIFIER := python tools/train_classifier.py --config=configs/classifier_avatars.py --workdir=$(ZOO_RUNS)/classifier --config.data.cache_dir=$(CACHE)
RETRAIN_GAN := python launch.py --config=configs/cdcgan_avatars.py --workdir=$(ZOO_RUNS)/avatar_gan
RETRAIN_NICKNAME := python tools/train_nickname.py --config=configs/nickname.py --workdir=$(ZOO_RUNS)/nickname
# The encoder inverts the exported GAN (its meta names zoo:avatar_gan / zoo:classifier, so the entry loads anywhere).
RETRAIN_ENCODER := python tools/train_encoder.py --config=configs/encoder_avatars.py --workdir=$(ZOO_RUNS)/encoder --gan_workdir=zoo:avatar_gan --classifier_workdir=zoo:classifier
# $(call zoo_timed,NAME,COMMAND): runs COMMAND (python = the venv's), adding its wall seconds to $(ZOO_RUNS)/NAME.wall_s.
zoo_timed = t=$$(date +%s) && $(subst python ,$(PY) ,$(2)) && echo $$(( $$(date +%s) - t )) >> $(ZOO_RUNS)/$(1).wall_s
zoo_wall = $$(cat $(ZOO_RUNS)/$(1).wall_s 2>/dev/null | awk '{s += $$1} END {if (NR) printf "%d h %02d min", s / 3600, (s % 3600) / 60; else printf "unknown"}')
ZOO_EXPORT = $(PY) tools/export_zoo.py --out_dir=zoo --machine="$(ZOO_MACHINE)"
models: $(VENV)/.installed
	$(PY) tools/prepare_data.py --source=avatars --size=64 --limit=20000 --out=$(CACHE) --if_stale
	mkdir -p $(ZOO_RUNS)
	test -f $(ZOO_RUNS)/classifier/classifier.json || { $(call zoo_timed,classifier,$(RETRAIN_CLASSIFIER)); }
	$(call zoo_timed,avatar_gan,$(RETRAIN_GAN))
	$(call zoo_timed,nickname,$(RETRAIN_NICKNAME))
	$(PY) tools/evaluate.py --workdir=$(ZOO_RUNS)/avatar_gan --classifier_workdir=$(ZOO_RUNS)/classifier \
	    > $(ZOO_RUNS)/avatar_gan.eval.json.tmp && mv $(ZOO_RUNS)/avatar_gan.eval.json.tmp $(ZOO_RUNS)/avatar_gan.eval.json
	$(ZOO_EXPORT) --kind=classifier --workdir=$(ZOO_RUNS)/classifier --name=classifier \
	    --metrics=$(ZOO_RUNS)/classifier/classifier.json --wall_time="$(call zoo_wall,classifier)" \
	    --config_ref=configs/classifier_avatars.py --retrain="$(RETRAIN_CLASSIFIER)"
	$(ZOO_EXPORT) --kind=gan --workdir=$(ZOO_RUNS)/avatar_gan --name=avatar_gan \
	    --metrics=$(ZOO_RUNS)/avatar_gan.eval.json --wall_time="$(call zoo_wall,avatar_gan)" \
	    --config_ref=configs/cdcgan_avatars.py --retrain="$(RETRAIN_GAN)"
	$(ZOO_EXPORT) --kind=nickname --workdir=$(ZOO_RUNS)/nickname --name=nickname \
	    --metrics=$(ZOO_RUNS)/nickname/metrics.json --wall_time="$(call zoo_wall,nickname)" \
	    --config_ref=configs/nickname.py --retrain="$(RETRAIN_NICKNAME)"
	$(call zoo_timed,encoder,$(RETRAIN_ENCODER))
	$(ZOO_EXPORT) --kind=encoder --workdir=$(ZOO_RUNS)/encoder --name=encoder \
	    --metrics=$(ZOO_RUNS)/encoder/metrics.json --wall_time="$(call zoo_wall,encoder)" \
	    --config_ref=configs/encoder_avatars.py --retrain="$(RETRAIN_ENCODER)"
	@du -sb zoo | awk '{ printf "zoo/: %.1f MB\n", $$1 / 1e6; if ($$1 > 60e6) { print "error: zoo/ is over 60 MB; shrink a model"; exit 1 } }'

# --dist loadfile: each test file runs on one worker, so its module-scoped fixtures (tiny models trained
# for it) are built once, not once per worker.
test: $(VENV)/.installed-test
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow" tests

# The formatter (yapf, Google style, 2-space indents; settings in pyproject.toml) and pyflakes' checks (ruff).
# CI runs `make lint` before `make test`; `make fmt` rewrites the files in place.
SOURCES := vid_jax tools tests configs launch.py
lint: $(VENV)/.installed-test
	$(PY) -m yapf --diff --recursive --parallel $(SOURCES) > /dev/null || { $(PY) -m yapf --diff --recursive $(SOURCES) | head -40; echo "error: files not formatted; run make fmt"; exit 1; }
	$(PY) -m ruff check --quiet $(SOURCES)

fmt: $(VENV)/.installed-test
	$(PY) -m yapf --in-place --recursive --parallel $(SOURCES)

# Tests over a minute each (e.g. the 2-process jax.distributed run, tests/multihost_test.py).
test-slow: $(VENV)/.installed-test
	$(PY) -m pytest -q -m slow tests

# The benchmark jobs of configs/bench.py, one JSON file each (result + environment) in runs/bench/<time>/;
# BENCH=configs/bench.py:quick for tiny sizes, BENCH_ONLY=gan_step,layers for some jobs. The gan_step
# job runs the PyTorch peer in the same run; torch lives in its own venv (never a project dep).
BENCH ?= configs/bench.py
BENCH_ONLY ?=
bench: $(VENV)/.installed
	test -x .venv-torch/bin/python || ($(PYTHON) -m venv .venv-torch && .venv-torch/bin/pip install -q torch==2.13.0 numpy) || echo "torch unavailable: the peer will be skipped"
	$(PY) tools/bench/run.py --config=$(BENCH) $(if $(BENCH_ONLY),--only=$(BENCH_ONLY))

# The attribute classifier behind domain FID/KID and attribute accuracy (docs/metrics.md; runs: docs/experiments/classifier.md).
classifier: $(VENV)/.installed
	$(PY) tools/prepare_data.py --source=avatars --size=64 --limit=20000 --out=$(CACHE) --if_stale
	$(PY) tools/train_classifier.py --config=configs/classifier_avatars.py --workdir=runs/classifier --config.data.cache_dir=$(CACHE)

evaluate: $(VENV)/.installed
	$(PY) tools/evaluate.py --workdir=$(WORKDIR) --classifier_workdir=runs/classifier

clean:
	rm -rf runs
