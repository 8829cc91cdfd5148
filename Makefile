# cdhooks: `make run` starts the reference server; `make test` runs everything.
# Tools the builds need are installed here when missing, so a fresh machine with Rust, Node
# and npm needs no other step.

SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-unknown-unknown
# The wasm-bindgen CLI must match the wasm-bindgen crate exactly; the pin lives in Cargo.toml.
WASM_BINDGEN_VERSION := $(shell sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p; s/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml)

.PHONY: wasm-glue openapi test-api types run test test-rust lint core-nostd wasm-target wasm-bindgen-cli node-deps pkg server-bin test-js bench bench-js clean

## The main job: build and start the reference server with its embedded store.
run: pkg
	$(CARGO) build --release -p cdhooks-server
	./target/release/cdhooks-server dev --metrics-bind 127.0.0.1:9090

## Everything: formatting, lints, Rust tests, the no_std build, JS, runtime and browser tests.
test: lint test-rust core-nostd test-js test-api

lint:
	@echo '== make test: formatting and clippy'
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Beside a throwaway PostgreSQL cluster: every suite once (the store contract on both stores),
# then the server suites again on PostgreSQL (the several-instances tests need it anyway).
PG_SUITES := --test api --test platform --test asymmetric --test delivery --test fairness --test outbox --test edges --test hostile --test tls --test event_types --test filters --test in_flight
test-rust:
	@echo '== make test: Rust tests (a throwaway PostgreSQL cluster; several minutes on 2 cores)'
	scripts/with-postgres bash -c '$(CARGO) test --workspace && \
	  CDHOOKS_TEST_BACKEND=postgres $(CARGO) test -p cdhooks-server $(PG_SUITES)'

core-nostd: wasm-target
	$(CARGO) build -p cdhooks-core --no-default-features --target $(WASM_TARGET)

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

wasm-bindgen-cli:
	@if [ "$$(wasm-bindgen --version 2>/dev/null | awk '{print $$2}')" != "$(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	  $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); \
	fi

## npm dependencies of the tests and benchmarks (reinstalled when the lock file changes).
node-deps: node_modules/.installed
node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

clean:
	$(CARGO) clean
	rm -rf node_modules pkg/gen

## The npm package: two wasm modules + wasm-bindgen glue (Node and web targets) + generated
## helpers in pkg/gen. `cdhooks_wasm` is the verification every receiver loads (kept under
## 20 KB, checked by pkg/test/modules.test.mjs); `cdhooks_full` adds signing and Ed25519 and is
## loaded only when a call needs it.
WASM_OUT := target/$(WASM_TARGET)/wasm/cdhooks_wasm.wasm
WASM_OPT := node_modules/.bin/wasm-opt
# The features rustc enables by default for wasm32-unknown-unknown (all in Node 18+).
WASM_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-simd
# Panic locations name their source files; without the registry's absolute path in each the
# module is some 300 bytes smaller (and the same on every machine). Cargo joins these flags
# with .cargo/config.toml's (SIMD) for the target.
WASM_RUSTFLAGS := $(foreach d,$(wildcard $(or $(CARGO_HOME),$(HOME)/.cargo)/registry/src/*/),--remap-path-prefix=$(d)=/) --remap-path-prefix=$(CURDIR)/=
# Rebuilt only when its inputs change, so a warm `make run` starts in seconds.
PKG_STAMP := pkg/gen/.built
PKG_INPUTS := $(shell find crates/core crates/wasm -name '*.rs' -not -path '*/fuzz/*' -o -name Cargo.toml -not -path '*/fuzz/*') \
  Cargo.lock Makefile pkg/build.mjs pkg/src/api.mjs pkg/index.d.ts pkg/events.d.ts
pkg: $(PKG_STAMP)
$(PKG_STAMP): $(PKG_INPUTS) | wasm-target wasm-bindgen-cli node-deps
	rm -rf pkg/gen && mkdir -p pkg/gen
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='$(WASM_RUSTFLAGS)' $(CARGO) build -p cdhooks-wasm --target $(WASM_TARGET) --profile wasm
	$(MAKE) --no-print-directory wasm-glue NAME=cdhooks_wasm
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='$(WASM_RUSTFLAGS)' $(CARGO) build -p cdhooks-wasm --target $(WASM_TARGET) --profile wasm --features full
	$(MAKE) --no-print-directory wasm-glue NAME=cdhooks_full
	echo '{"type":"commonjs"}' > pkg/gen/node/package.json
	node pkg/build.mjs
	@touch $@

# One module's glue for both targets, size-optimised.
wasm-glue:
	for t in node web; do \
	  wasm-bindgen $(WASM_OUT) --out-dir pkg/gen/$$t --out-name $(NAME) --target $$([ $$t = node ] && echo nodejs || echo web) --no-typescript --weak-refs && \
	  $(WASM_OPT) -O3 --strip-debug --strip-producers $(WASM_FEATURES) pkg/gen/$$t/$(NAME)_bg.wasm -o pkg/gen/$$t/$(NAME)_bg.wasm || exit 1; \
	done

## The OpenAPI document the server serves, committed as docs/openapi.json.
openapi:
	CDHOOKS_UPDATE_OPENAPI=1 $(CARGO) test -p cdhooks-server --test openapi the_committed_document

## schemathesis (pinned, in .venv) against a fresh server, every operation, default checks.
SCHEMATHESIS_VERSION := 4.32.5
.venv/.schemathesis-$(SCHEMATHESIS_VERSION):
	python3 -m venv .venv
	.venv/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)
	@touch $@
test-api: server-bin .venv/.schemathesis-$(SCHEMATHESIS_VERSION)
	@echo '== make test: schemathesis against the OpenAPI document, with each kind of credential'
	scripts/schemathesis target/debug/cdhooks-server 100 account
	scripts/schemathesis target/debug/cdhooks-server 25 platform
	scripts/schemathesis target/debug/cdhooks-server 25 portal

## The package's generated TypeScript (event types and error codes from the Rust core).
types:
	CDHOOKS_UPDATE_TYPES=1 $(CARGO) test -p cdhooks-core --test typescript

## The server binary the JS end-to-end tests run.
server-bin:
	$(CARGO) build -p cdhooks-server

## JS: the package's tests, its type declarations (ESM and CommonJS, checked by attw and
## publint), every runtime, the examples, and the server end to end.
test-js: pkg server-bin
	@echo '== make test: JS tests (package, Bun, Deno, workerd, Chromium, end to end)'
	node_modules/.bin/tsc -p pkg/test/tsconfig.json
	node_modules/.bin/tsc -p pkg/test/tsconfig.cjs.json
	node_modules/.bin/attw --pack pkg
	node_modules/.bin/publint pkg --strict
	node --test --test-reporter=spec pkg/test/*.test.mjs tests/runtimes/*.test.mjs tests/e2e/*.test.mjs examples/*.test.mjs

## The delivery benchmark (not part of `make test`): the embedded store, then PostgreSQL (a
## throwaway cluster with its defaults) with one and with three instances. Writes
## bench/RESULTS.md, bench/RESULTS-postgres.md and bench/RESULTS-postgres-3.md.
BENCH := ./target/release/cdhooks-bench --server target/release/cdhooks-server
bench:
	$(CARGO) build --release -p cdhooks-server -p cdhooks-bench
	$(BENCH) --out bench/RESULTS.md
	scripts/with-postgres bash -c '$(BENCH) --database-url "$$CDHOOKS_TEST_DATABASE_URL" --out bench/RESULTS-postgres.md'
	scripts/with-postgres bash -c '$(BENCH) --database-url "$$CDHOOKS_TEST_DATABASE_URL" --instances 3 --compare-instances 1 --out bench/RESULTS-postgres-3.md'

## The JS verification benchmark (not part of `make test`); writes bench/JS-RESULTS.md. It also
## measures the event object built by serde-wasm-bindgen (bench/serde-event) against JSON.parse.
bench-js: pkg
	cd bench/serde-event && $(CARGO) build --release --target $(WASM_TARGET)
	wasm-bindgen bench/serde-event/target/$(WASM_TARGET)/release/cdhooks_bench_serde_event.wasm \
	  --out-dir bench/serde-event/gen --target nodejs --no-typescript
	node --expose-gc bench/verify.mjs
