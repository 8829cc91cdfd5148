// Node (CommonJS, and the ESM wrapper node.mjs): the verification module is read from disk and
// compiled synchronously when the package is required, so there is no init step; the full
// module (signing, Ed25519) the same way, on first use.
//
// Node's own Ed25519 (OpenSSL) checks the curve equation of `v1a` signatures: at webhook
// sizes it is 1.3–1.5 times as fast as the wasm (`make bench-js`). The wasm still parses the
// key and checks each signature's strict form, so the answers are the same as elsewhere.
'use strict';
const crypto = require('node:crypto');
const glue = require('../gen/node/cdhooks_wasm.js');
const { createApi } = require('../gen/api.cjs');

/** Node's Ed25519, in the shape `createApi` takes. */
const nodeEd25519 = {
  key(bytes) {
    const x = Buffer.from(bytes).toString('base64url');
    return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
  },
  verify(key, prefix, payload, signature) {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    return crypto.verify(null, Buffer.concat([Buffer.from(prefix), body]), key, signature);
  },
};

function loadFull() {
  const full = require('../gen/node/cdhooks_full.js');
  return { glue: full, memory: full.memory };
}

module.exports = createApi({ glue, memory: glue.memory }, loadFull, nodeEd25519);
