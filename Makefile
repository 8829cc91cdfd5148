# cdhooks: `make run` starts the reference server; `make test` runs everything.
# Tools the builds need are installed here when missing, so a fresh machine with Rust, Node
# and npm needs no other step.

SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-unknown-unknown
# The wasm-bindgen CLI must match the wasm-bindgen crate exactly; the pin lives in Cargo.toml.
WASM_BINDGEN_VERSION := $(shell sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p; s/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml)

.PHONY: run test test-rust lint core-nostd tools wasm-target wasm-bindgen-cli node-deps pkg test-js test-smoke test-e2e bench bench-js clean

## The main job: build and start the reference server with its embedded store.
run:
	$(CARGO) build --release -p cdhooks-server
	./target/release/cdhooks-server dev

## Everything: formatting, lints, Rust tests, the no_std build, JS, runtime and browser tests.
test: lint test-rust core-nostd

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust:
	$(CARGO) test --workspace

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
