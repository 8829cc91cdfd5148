// verifyRequest keys each secret once and keeps it in a bounded cache: 100,000 requests with
// three secrets in turn leave the package's wasm memory flat — with finalizers (Node) and
// without them (workerd has no FinalizationRegistry, so nothing made per request is freed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const REQUESTS = 100_000;
const MAX_GROWTH = 1024 * 1024;

/** Runs the measurement in a fresh Node (optionally without FinalizationRegistry). */
function measure(withoutFinalizers) {
  const script = `
    // The package looks for FinalizationRegistry when it loads; Node's own Request needs it
    // afterwards, so it is hidden only while the package loads.
    const saved = globalThis.FinalizationRegistry;
    ${withoutFinalizers ? 'delete globalThis.FinalizationRegistry;' : ''}
    const { createRequire } = await import('node:module');
    const require = createRequire(${JSON.stringify(import.meta.url)});
    const glue = require('../gen/node/cdhooks_wasm.js');
    const full = require('../gen/node/cdhooks_full.js');
    const { createApi } = require('../gen/api.cjs');
    const api = createApi({ glue, memory: glue.memory }, () => ({ glue: full, memory: full.memory }));
    globalThis.FinalizationRegistry = saved;
    // The verification module's memory: where verifyRequest keys secrets.
    const memory = glue.memory;
    const secrets = ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'your_webhook_secret', 'another_secret_0123456789'];
    const body = JSON.stringify({ id: 'evt_1', type: 'server.started', created_at: '2025-01-15T10:30:00Z', data: { server_id: 'srv_1' } });
    const now = Math.floor(Date.now() / 1000);
    const headers = secrets.map((secret) => ({
      'content-type': 'application/json',
      'webhook-id': 'evt_1',
      'webhook-timestamp': String(now),
      'webhook-signature': new api.Webhook(secret).sign('evt_1', now, body),
    }));
    async function run(count, from) {
      for (let i = from; i < from + count; i++) {
        const k = i % 3;
        const request = new Request('http://127.0.0.1/hook', { method: 'POST', headers: headers[k], body });
        const event = await api.verifyRequest(request, secrets[k]);
        if (event.id !== 'evt_1') throw new Error('wrong event');
      }
    }
    await run(3000, 0);
    globalThis.gc();
    const before = memory.buffer.byteLength;
    for (let done = 0; done < ${REQUESTS}; done += 10000) {
      await run(10000, done);
      globalThis.gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    // The control: a Webhook made per call (what verifyRequest did) is freed only by a
    // finalizer, so without them memory grows — the measurement can see a leak.
    const after = memory.buffer.byteLength;
    for (let i = 0; i < 20000; i++) new api.Webhook(secrets[i % 3]);
    globalThis.gc();
    console.log(JSON.stringify({ before, after, control: memory.buffer.byteLength - after }));
  `;
  const child = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout.trim().split('\n').pop());
}

for (const withoutFinalizers of [false, true]) {
  test(`verifyRequest keeps wasm memory flat over ${REQUESTS} requests ${withoutFinalizers ? 'without' : 'with'} FinalizationRegistry`, () => {
    const { before, after, control } = measure(withoutFinalizers);
    assert.ok(after - before <= MAX_GROWTH, `wasm memory grew from ${before} to ${after} bytes`);
    if (withoutFinalizers) {
      assert.ok(control > MAX_GROWTH, `20,000 Webhooks without finalizers grew memory by only ${control} bytes`);
    }
  });
}
