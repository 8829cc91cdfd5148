// Cloudflare Workers (workerd) and other edge runtimes that forbid compiling wasm from bytes:
// the .wasm is a module import, already compiled by the runtime.
import * as glue from '../gen/web/cdhooks_wasm.js';
import wasmModule from '../gen/web/cdhooks_wasm_bg.wasm';
import { createApi } from './api.mjs';

glue.initSync({ module: wasmModule });

const api = createApi(glue);
export const { verifyWebhook, signWebhook, verifyRequest, diagnoseSecret, isTestEvent, Webhook, WebhookVerificationError } = api;
export default api;
