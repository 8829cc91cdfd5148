// Browsers, bundlers, Deno and other ES module runtimes: the wasm is inlined (base64) and
// compiled synchronously, so there is no init step and no asset to serve. The verification
// module is compiled at import; the full one (signing, Ed25519) on first use.
import * as glue from '../gen/web/cdhooks_wasm.js';
import * as fullGlue from '../gen/web/cdhooks_full.js';
import { wasmBytes } from '../gen/web/wasm_inline.mjs';
import { fullWasmBytes } from '../gen/web/full_inline.mjs';
import { createApi } from './api.mjs';

const { memory } = glue.initSync({ module: wasmBytes() });

const api = createApi({ glue, memory }, () => ({ glue: fullGlue, memory: fullGlue.initSync({ module: fullWasmBytes() }).memory }));
export const { verifyWebhook, signWebhook, verifyRequest, diagnoseSecret, isTestEvent, Webhook, WebhookVerificationError } = api;
export default api;
