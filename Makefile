# wasm-mgr: build, run, test and benchmark. `make run` and `make test` are the
# two commands a fresh machine needs; everything they need is installed here.

CARGO        ?= cargo
WASM_TARGET  := wasm32-wasip2
MODULES      := selftest status prometheus
TEST_MODULES := probe crasher describe-trap describe-hang wasi-command hostile tally
PY_TEST_MODULES := tally-py
OUT          := target/modules
TEST_OUT     := target/test-modules
# Modules build in the `module` profile (Cargo.toml): small and quick to compile.
WASM_DIR     := target/$(WASM_TARGET)/module
# The host's crates (host/): cluster state, the two sources, the runtime, the binary.
HOST_CRATES  := -p wasm-mgr-cluster -p wasm-mgr-sim -p wasm-mgr-ceph -p wasm-mgr-protocol -p wasm-mgr-runtime -p wasm-mgr
# The contract the shipped SDKs build against: the newest version in wit/.
WIT          := wit/0.1.0
WIT_FILES    := $(wildcard $(WIT)/*.wit)

.PHONY: all setup test-tools ceph-tools python-tools js-tools runtimes install-source-modules build-py-modules build-py-test-modules build-js-modules bench-ceph bench-ha build build-host build-modules build-test-modules run test unit-test \
        integration-test bench lint fmt clean-state

all: build

## Tools the build needs: the wasm32-wasip2 standard library.
setup:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

## Tools the tests need: Prometheus's promtool (from Debian's prometheus package,
## unpacked into target/tools when the machine has none; no service is started).
PROMTOOL ?= $(shell command -v promtool 2>/dev/null || echo $(CURDIR)/target/tools/usr/bin/promtool)
export PROMTOOL
test-tools:
	@if [ ! -x "$(PROMTOOL)" ]; then \
	  echo "installing promtool from Debian's prometheus package into target/tools"; \
	  apt-get update -qq && mkdir -p target/tools && cd target/tools && \
	  apt-get download prometheus && dpkg -x prometheus_*.deb . && rm -f prometheus_*.deb; \
	fi
	@"$(PROMTOOL)" --version | head -1

## What the real-Ceph tests need: Debian's Ceph 16.2 daemons and CLI (as root, with
## apt), for tests/ceph/cluster.sh. The host itself loads librados only when
## `--cluster ceph` is asked for.
CEPH_PACKAGES := ceph-mon ceph-osd ceph-mgr ceph-common uuid-runtime
ceph-tools:
	@if ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null || \
	    ! command -v ceph-mgr >/dev/null || ! command -v uuidgen >/dev/null; then \
	  echo "installing Ceph from Debian's packages: $(CEPH_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CEPH_PACKAGES); \
	fi
	@ceph --version

## Python modules: componentize-py (PyPI) in a project virtualenv, target/py.
PY_VENV         := target/py
COMPONENTIZE_PY := $(PY_VENV)/bin/componentize-py
PY_MODULES      :=
PY_SDK          := $(wildcard sdk/python/wasm_mgr/*.py)
python-tools: $(COMPONENTIZE_PY)
$(COMPONENTIZE_PY):
	python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/pip install -q "componentize-py==0.25.1"

# A Python module is modules/<name>/app.py (with the SDK) built against the module world.
$(OUT)/%.wasm: modules/%/app.py $(PY_SDK) $(WIT_FILES) | $(COMPONENTIZE_PY)
	@mkdir -p $(OUT)
	$(COMPONENTIZE_PY) -d $(WIT) -w module componentize -p sdk/python -p modules/$* app -o $@

$(TEST_OUT)/%.wasm: tests/modules/%/app.py $(PY_SDK) $(WIT_FILES) | $(COMPONENTIZE_PY)
	@mkdir -p $(TEST_OUT)
	$(COMPONENTIZE_PY) -d $(WIT) -w module componentize -p sdk/python -p tests/modules/$* app -o $@

build-py-modules: $(addprefix $(OUT)/,$(addsuffix .wasm,$(PY_MODULES)))

## The shared runtimes: one component per language that runs every module of it
## given as plain source (ceph:mgr@0.2.0's `runtime` world); the host compiles each
## once per machine. The Python one is CPython with the runtime's loader, Ceph's
## `ceph_module` layer and the SDK, and imports the operator's Ceph modules at run
## time from the read-only Python path.
RUNTIMES_OUT   := target/runtimes
RUNTIME_WIT    := wit/0.2.0
PY_RUNTIME     := $(RUNTIMES_OUT)/python.wasm
PY_RUNTIME_SRC := $(wildcard runtimes/python/*.py)
# Ceph's module API, pre-imported into the runtime when this machine has Ceph (the
# runtime checks at load that the operator's files are the same): mgr_module and
# mgr_util, and a copy of only what they import of Debian's Python packages
# (the build sees no symbolic link that leads out of a folder it is given).
CEPH_PY_LINKS  := target/ceph-python
CEPH_PY_DEPS   := ceph_argparse.py ceph prettytable prettytable-*.dist-info wcwidth wcwidth-*-info
# (Looked for when the recipe runs: `make test` installs Ceph just before.)
# Then the image's objects are made immortal (runtimes/python-image), so that an
# instance that only uses them leaves their pages shared.
PY_IMAGE       := target/release/python-image
$(PY_IMAGE): runtimes/python-image/Cargo.toml $(wildcard runtimes/python-image/src/*.rs)
	$(CARGO) build --release -p python-image
$(PY_RUNTIME): $(PY_RUNTIME_SRC) $(PY_SDK) $(wildcard $(RUNTIME_WIT)/*.wit) $(PY_IMAGE) | $(COMPONENTIZE_PY)
	@mkdir -p $(RUNTIMES_OUT) && rm -rf $(CEPH_PY_LINKS) && mkdir -p $(CEPH_PY_LINKS)
	@cd /usr/lib/python3/dist-packages 2>/dev/null && \
	  for d in $(CEPH_PY_DEPS); do [ -e "$$d" ] && cp -r $$d $(CURDIR)/$(CEPH_PY_LINKS)/; done; true
	$(COMPONENTIZE_PY) -d $(RUNTIME_WIT) -w runtime componentize -p runtimes/python -p sdk/python \
	  $$([ -d /usr/share/ceph/mgr ] && echo -p /usr/share/ceph/mgr) -p $(CEPH_PY_LINKS) runtime -o $@.snapshot
	$(PY_IMAGE) $@.snapshot $@ && rm -f $@.snapshot

runtimes: $(PY_RUNTIME)

## Shipped modules given as source go into the modules folder as they are: the
## Python package iostat/ and the JavaScript file osdwatch.js.
SOURCE_MODULES := iostat
install-source-modules:
	@mkdir -p $(OUT)
	@for m in $(SOURCE_MODULES); do rm -rf $(OUT)/$$m; mkdir -p $(OUT)/$$m; \
	  cp modules/$$m/*.py $(OUT)/$$m/; done
	@cp modules/osdwatch/osdwatch.js $(OUT)/osdwatch.js

## JavaScript: componentize-js (npm) in target/js. A JavaScript module is plain
## source, `NAME.js`, run by the shared JavaScript runtime: one componentize-js
## component (runtimes/javascript with the SDK, sdk/js/wasm-mgr.js) built against
## ceph:mgr@0.2.0's `runtime` world, which the host compiles once per machine. A
## module may still be built into a component of its own for the 0.1.0
## `module-sync` world (componentize-js cannot build async exports yet), as the
## test module `osdwatch-sync` is.
JS_TOOLS        := target/js
COMPONENTIZE_JS := $(JS_TOOLS)/node_modules/.bin/componentize-js
# Without wasi:http: a module's outgoing HTTP is the host's to grant.
JS_FLAGS        := --disable http --disable fetch-event
JS_SDK          := sdk/js/wasm-mgr.js
JS_MODULES      :=
JS_TEST_MODULES := osdwatch-sync
# Shipped modules that were components and are source now: their stale builds go.
JS_NOW_SOURCE   := osdwatch
js-tools: $(COMPONENTIZE_JS)
$(COMPONENTIZE_JS):
	mkdir -p $(JS_TOOLS)
	npm install --prefix $(JS_TOOLS) --no-audit --no-fund "@bytecodealliance/componentize-js@0.23.0"

JS_RUNTIME       := target/runtimes/javascript.wasm
JS_RUNTIME_WIT   := wit/0.2.0
JS_RUNTIME_SRC   := runtimes/javascript/runtime.js
JS_RUNTIME_BUILD := target/js-build/runtime
# The runtime and the SDK go into one folder, where componentize-js resolves the
# entry's relative imports; the SDK with the runtime's imports (imports.js) in place
# of its `<imports>` block. Built from the folder's parent, so that the runtime's
# own frames in a module's stack read `wasm-mgr/...js`, never a module's `NAME.js`.
$(JS_RUNTIME): $(JS_RUNTIME_SRC) runtimes/javascript/imports.js $(JS_SDK) $(wildcard $(JS_RUNTIME_WIT)/*.wit) | $(COMPONENTIZE_JS)
	@mkdir -p $(dir $@) $(JS_RUNTIME_BUILD)/wasm-mgr
	cp $(JS_RUNTIME_SRC) $(JS_RUNTIME_BUILD)/wasm-mgr/
	awk -v with=runtimes/javascript/imports.js \
	  '/^\/\/ <imports>/ { while ((getline l < with) > 0) print l; skip = 1; found++; next } \
	   /^\/\/ <\/imports>/ { skip = 0; next } !skip { print } \
	   END { if (found != 1 || skip) { print "no <imports> block in the SDK" > "/dev/stderr"; exit 1 } }' \
	  $(JS_SDK) > $(JS_RUNTIME_BUILD)/wasm-mgr/wasm-mgr.js
	cd $(JS_RUNTIME_BUILD) && $(CURDIR)/$(COMPONENTIZE_JS) --wit $(CURDIR)/$(JS_RUNTIME_WIT) \
	  --world-name runtime $(JS_FLAGS) -o $(CURDIR)/$@ wasm-mgr/runtime.js
js-runtime: $(JS_RUNTIME)
# (here, after JS_RUNTIME is set: make expands prerequisites as it reads them)
runtimes: $(JS_RUNTIME)

# A componentized JavaScript module is <dir>/<name>/app.js; the SDK is copied beside
# it, where componentize-js resolves imports.
define JS_COMPONENT
	@mkdir -p $(dir $@) target/js-build/$*
	cp $< $(JS_SDK) target/js-build/$*/
	$(COMPONENTIZE_JS) --wit $(WIT) --world-name module-sync $(JS_FLAGS) \
	  -o $@ target/js-build/$*/app.js
endef
$(OUT)/%.wasm: modules/%/app.js $(JS_SDK) $(WIT_FILES) | $(COMPONENTIZE_JS)
	$(JS_COMPONENT)
$(TEST_OUT)/%.wasm: tests/modules/%/app.js $(JS_SDK) $(WIT_FILES) | $(COMPONENTIZE_JS)
	$(JS_COMPONENT)

build-js-test-modules: $(addprefix $(TEST_OUT)/,$(addsuffix .wasm,$(JS_TEST_MODULES)))
# (with the componentized test module, which `make test` runs)
build-js-modules: $(addprefix $(OUT)/,$(addsuffix .wasm,$(JS_MODULES))) build-js-test-modules
	@rm -f $(addprefix $(OUT)/,$(addsuffix .wasm,$(JS_NOW_SOURCE)))
.PHONY: js-runtime build-js-test-modules

build-py-test-modules: $(addprefix $(TEST_OUT)/,$(addsuffix .wasm,$(PY_TEST_MODULES)))

## The host binary and every shipped module, components in target/modules/.
build: build-host build-modules build-py-modules build-js-modules runtimes install-source-modules

build-host:
	$(CARGO) build --release -p wasm-mgr

build-modules: setup
	$(CARGO) build --profile module --target $(WASM_TARGET) $(addprefix -p ,$(MODULES))
	@mkdir -p $(OUT)
	@for m in $(MODULES); do cp $(WASM_DIR)/$$m.wasm $(OUT)/$$m.wasm; done
	@ls -l $(OUT)

build-test-modules: setup
	$(CARGO) build --profile module --target $(WASM_TARGET) $(addprefix -p ,$(TEST_MODULES))
	@mkdir -p $(TEST_OUT)
	@for m in $(TEST_MODULES); do \
	  f=$(WASM_DIR)/$$m.wasm; [ -f $$f ] || f=$(WASM_DIR)/$$(echo $$m | tr - _).wasm; \
	  cp $$f $(TEST_OUT)/$$m.wasm; done
	@# The repaired build of `hostile`, for the test that fixes a failing module.
	$(CARGO) build --profile module --target $(WASM_TARGET) -p hostile --features fixed
	@cp $(WASM_DIR)/hostile.wasm $(TEST_OUT)/hostile-fixed.wasm

## The host with the simulated cluster and the shipped modules, API on 127.0.0.1:7000.
run: build
	./target/release/wasm-mgr serve --modules $(OUT) --state-dir .state --config wasm-mgr.toml

## Unit tests, then integration tests that run the real binary with real modules.
test: ceph-tools build build-test-modules build-py-test-modules test-tools unit-test integration-test

unit-test:
	$(CARGO) test --release $(HOST_CRATES) -p python-image -p wasm-mgr-sdk -p status -p prometheus@0.1.0

integration-test:
	$(CARGO) test --release -p wasm-mgr-tests -- --test-threads 2

## Benchmarks: notify fan-out, instantiation, host RSS. Figures go to stdout.
bench: build build-test-modules build-py-test-modules ceph-tools
	$(CARGO) bench -p wasm-mgr --bench core
	$(CARGO) bench -p wasm-mgr --bench prometheus
	$(CARGO) bench -p wasm-mgr --bench reload
	$(CARGO) bench -p wasm-mgr --bench languages
	$(CARGO) bench -p wasm-mgr --bench runtimes

## wasm-mgr beside the real ceph-mgr on a real test cluster: push latency, idle CPU
## and wakeups (also the monitor's), RSS and threads with and without librados,
## scrape latency. Needs Ceph (make ceph-tools); takes about five minutes.
## BENCH_POLLING_BIN=path/to/old/wasm-mgr measures the polling host beside it.
bench-ceph: build build-test-modules ceph-tools
	$(CARGO) bench -p wasm-mgr --bench ceph

## Failover of an HA group (folder lease, RADOS lock) against ceph-mgr's own.
bench-ha: build build-test-modules ceph-tools
	$(CARGO) bench -p wasm-mgr --bench failover

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release $(HOST_CRATES) -p python-image -p wasm-mgr-tests --all-targets -- -D warnings
	$(CARGO) clippy --release --target $(WASM_TARGET) -p wasm-mgr-sdk $(addprefix -p ,$(MODULES) $(TEST_MODULES)) -- -D warnings

fmt:
	$(CARGO) fmt --all

clean-state:
	rm -rf .state
