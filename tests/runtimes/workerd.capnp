# workerd config of the edge smoke test: the package's workerd build, with the .wasm as a
# module import each (edge runtimes forbid compiling wasm from bytes at run time).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .smokeWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const smokeWorker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "smoke.mjs", esModule = embed "smoke.mjs"),
    (name = "cdhooks/src/workerd.mjs", esModule = embed "../../pkg/src/workerd.mjs"),
    (name = "cdhooks/src/api.mjs", esModule = embed "../../pkg/src/api.mjs"),
    (name = "cdhooks/gen/web/cdhooks_wasm.js", esModule = embed "../../pkg/gen/web/cdhooks_wasm.js"),
    (name = "cdhooks/gen/web/cdhooks_wasm_bg.wasm", wasm = embed "../../pkg/gen/web/cdhooks_wasm_bg.wasm"),
    (name = "cdhooks/gen/web/cdhooks_full.js", esModule = embed "../../pkg/gen/web/cdhooks_full.js"),
    (name = "cdhooks/gen/web/cdhooks_full_bg.wasm", wasm = embed "../../pkg/gen/web/cdhooks_full_bg.wasm"),
  ],
  compatibilityDate = "2024-09-23",
);
