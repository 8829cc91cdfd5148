// Browsers, bundlers, Deno and other ES module runtimes: the wasm is inlined (base64) and
// compiled synchronously at import, so there is no init step and no asset to serve.
import * as glue from '../gen/web/cdhooks_wasm.js';
import { wasmBytes } from '../gen/web/wasm_inline.mjs';
import { createApi } from './api.mjs';

glue.initSync({ module: wasmBytes() });

const api = createApi(glue);
export const { verifyWebhook, signWebhook, verifyRequest, diagnoseSecret, isTestEvent, Webhook, WebhookVerificationError } = api;
export default api;
