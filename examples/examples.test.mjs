// Each example runs as a user would run it and receives a real delivery from the reference
// server (a test event to its webhook; the Next.js handler gets a delivery captured by an
// inbox), and refuses a tampered copy with 401.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { signWebhook, Webhook } from 'cdhooks';
import { freePort, root, startServer, until } from '../tests/support.mjs';

const SECRET = 'your_webhook_secret';
const bin = (name) => join(root, 'node_modules', '.bin', name);
let server;

before(async () => {
  server = await startServer();
});
after(() => server?.stop());

function api(method, path, body) {
  return fetch(server.base + path, {
    method,
    headers: { authorization: `Bearer ${server.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body && JSON.stringify(body),
  }).then(async (r) => {
    const text = await r.text();
    return text ? JSON.parse(text) : null;
  });
}

/** Starts `command args` with PORT and WEBHOOK_SECRET; resolves once the port answers HTTP. */
async function run(command, args, port) {
  port ??= await freePort();
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, PORT: String(port), WEBHOOK_SECRET: SECRET, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const url = `http://127.0.0.1:${port}/webhooks/cdhosting`;
  await until(`${command} ${args.join(' ')} to listen (log: ${log})`, async () => {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return true;
    } catch {
      return false;
    }
  }, 30000);
  return { url, log: () => log, stop: async () => { child.kill(); await exited; } };
}

/** A real delivery to `url`, and a tampered request signed for another body. */
async function deliverAndTamper(url) {
  const webhook = await api('POST', '/v1/webhooks', { url, events: ['*'], secret: SECRET });
  const sent = await api('POST', `/v1/webhooks/${webhook.id}/test`, { type: 'billing.payment.failed' });
  assert.equal(sent.deliveries, 1);
  const delivery = await until('the delivery to settle', async () => {
    const list = await api('GET', `/v1/webhooks/${webhook.id}/deliveries`);
    const d = list.data[0];
    return d && d.status !== 'pending' ? d : null;
  }, 15000);
  assert.equal(delivery.status, 'succeeded', JSON.stringify(delivery.attempts));
  assert.equal(delivery.attempts.at(-1).status_code, 204);
  await api('DELETE', `/v1/webhooks/${webhook.id}`);

  const body = JSON.stringify(sent.event);
  const ts = Math.floor(Date.now() / 1000);
  const headers = {
    'content-type': 'application/json',
    'x-webhook-signature': signWebhook(body, SECRET),
    'webhook-id': sent.event.id,
    'webhook-timestamp': String(ts),
    'webhook-signature': new Webhook(SECRET).sign(sent.event.id, ts, body),
  };
  const tampered = await fetch(url, { method: 'POST', headers, body: body.replace('card_declined', 'paid') });
  assert.equal(tampered.status, 401);
  const genuine = await fetch(url, { method: 'POST', headers, body });
  assert.equal(genuine.status, 204);
}

for (const [name, command, args] of [
  ['Express (the docs\' check on the raw body)', process.execPath, ['examples/express.mjs']],
  ['Fastify (Standard Webhooks)', process.execPath, ['examples/fastify.mjs']],
  ['Deno.serve (verifyRequest)', bin('deno'), ['run', '--quiet', '--allow-net', '--allow-env', '--allow-read', 'examples/deno.mjs']],
  ['Bun.serve (verifyRequest)', bin('bun'), ['examples/bun.mjs']],
]) {
  test(name, async () => {
    const example = await run(command, args);
    try {
      await deliverAndTamper(example.url);
    } finally {
      await example.stop();
    }
  });
}

test('Hono on workerd (verifyRequest, the secret as a binding)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdhooks-hono-'));
  try {
    // Bundled as wrangler would; the package stays external and loads its .wasm as a module.
    execFileSync(bin('bun'), ['build', 'examples/hono-worker.mjs', '--external', 'cdhooks', '--target', 'browser', '--outfile', join(dir, 'bundle.mjs')], { cwd: root, stdio: 'pipe' });
    const bundle = readFileSync(join(dir, 'bundle.mjs'), 'utf8').replaceAll('"cdhooks"', '"cdhooks/src/workerd.mjs"');
    writeFileSync(join(dir, 'worker.mjs'), bundle);
    for (const [from, to] of [
      ['pkg/src/workerd.mjs', 'workerd.mjs'],
      ['pkg/src/api.mjs', 'api.mjs'],
      ['pkg/gen/web/cdhooks_wasm.js', 'cdhooks_wasm.js'],
      ['pkg/gen/web/cdhooks_wasm_bg.wasm', 'cdhooks_wasm_bg.wasm'],
      ['pkg/gen/web/cdhooks_full.js', 'cdhooks_full.js'],
      ['pkg/gen/web/cdhooks_full_bg.wasm', 'cdhooks_full_bg.wasm'],
    ]) copyFileSync(join(root, from), join(dir, to));
    writeFileSync(join(dir, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .honoWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);
const honoWorker :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "cdhooks/src/workerd.mjs", esModule = embed "workerd.mjs"),
    (name = "cdhooks/src/api.mjs", esModule = embed "api.mjs"),
    (name = "cdhooks/gen/web/cdhooks_wasm.js", esModule = embed "cdhooks_wasm.js"),
    (name = "cdhooks/gen/web/cdhooks_wasm_bg.wasm", wasm = embed "cdhooks_wasm_bg.wasm"),
    (name = "cdhooks/gen/web/cdhooks_full.js", esModule = embed "cdhooks_full.js"),
    (name = "cdhooks/gen/web/cdhooks_full_bg.wasm", wasm = embed "cdhooks_full_bg.wasm"),
  ],
  bindings = [ (name = "WEBHOOK_SECRET", text = "${SECRET}") ],
  compatibilityDate = "2024-09-23",
);
`);
    const port = await freePort();
    const example = await run(bin('workerd'), ['serve', join(dir, 'config.capnp'), '--socket-addr', `http=127.0.0.1:${port}`], port);
    try {
      await deliverAndTamper(`http://127.0.0.1:${port}/webhooks/cdhosting`);
    } finally {
      await example.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Next.js route handler (a plain (request) => Response function)', async () => {
  process.env.WEBHOOK_SECRET = SECRET;
  const { POST } = await import('./nextjs-route.mjs');
  // A real delivery, captured by an inbox, replayed as the Request Next.js would pass.
  const inbox = await api('POST', '/v1/inboxes');
  const webhook = await api('POST', '/v1/webhooks', { url: `${server.base}/inbox/${inbox.token}`, events: ['*'], secret: SECRET });
  await api('POST', `/v1/webhooks/${webhook.id}/test`, { type: 'billing.payment.failed' });
  const [captured] = await until('the capture', async () => {
    const { data } = await api('GET', `/v1/inboxes/${inbox.token}/requests`);
    return data.length > 0 && data;
  }, 15000);
  const body = Buffer.from(captured.body_base64, 'base64');
  const request = (bytes) => new Request('http://127.0.0.1/webhooks/cdhosting', { method: 'POST', headers: captured.headers, body: bytes });
  assert.equal((await POST(request(body))).status, 204);
  const tampered = await POST(request(Buffer.from(body.toString().replace('card_declined', 'paid'))));
  assert.equal(tampered.status, 401);
  assert.deepEqual(await tampered.json(), { error: 'signature_mismatch' });
});
