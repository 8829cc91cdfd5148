// Node (CommonJS, and the ESM wrapper node.mjs): the wasm is read from disk and compiled
// synchronously when the package is required, so there is no init step.
'use strict';
const glue = require('../gen/node/cdhooks_wasm.js');
const { createApi } = require('../gen/api.cjs');

module.exports = createApi(glue);
