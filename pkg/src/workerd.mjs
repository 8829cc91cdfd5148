// Cloudflare Workers (workerd) and other edge runtimes that forbid compiling wasm from bytes:
// each .wasm is a module import, already compiled by the runtime; the full one (signing,
// Ed25519) is instantiated on first use.
import * as glue from '../gen/web/cdhooks_wasm.js';
import * as fullGlue from '../gen/web/cdhooks_full.js';
import wasmModule from '../gen/web/cdhooks_wasm_bg.wasm';
import fullWasmModule from '../gen/web/cdhooks_full_bg.wasm';
import { createApi } from './api.mjs';

const { memory } = glue.initSync({ module: wasmModule });

const api = createApi({ glue, memory }, () => ({ glue: fullGlue, memory: fullGlue.initSync({ module: fullWasmModule }).memory }));
export const { verifyWebhook, signWebhook, verifyRequest, diagnoseSecret, isTestEvent, Webhook, WebhookVerificationError } = api;
export default api;
