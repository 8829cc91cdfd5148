// `make bench-js`: verification speed of the `cdhooks` package against the docs' snippet and
// the usual alternatives, in one process, interleaved (each contender runs a short slice in
// turn, several rounds), at 300 B, 4 KiB, 64 KiB and 1 MiB, and Ed25519 (`v1a`) at 300 B and
// 64 KiB. A benchmark, not a test.
import { createHmac, createPublicKey, generateKeyPairSync, sign as edSign, timingSafeEqual, verify as edVerify, webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { verify as octokitVerify } from '@octokit/webhooks-methods';
import { createHMAC, createSHA256 } from 'hash-wasm';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { verifyWebhook, signWebhook, Webhook } from 'cdhooks';

const SECRET = 'your_webhook_secret';
const SIZES = [['300 B', 300], ['4 KiB', 4096], ['64 KiB', 65536], ['1 MiB', 1 << 20]];
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SLICE_MS = Number(process.env.SLICE_MS ?? 150);

function docsVerify(payload, signature, secret) {
  const expected = createHmac('sha256', secret).update(payload).digest('hex');
  return timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
}

/** A JSON event body of about `size` bytes. */
function eventBody(size) {
  const head = { id: 'evt_abc123', type: 'server.started', created_at: '2025-01-15T10:30:00Z', data: { server_id: 'srv_abc123', name: 'production-web-01', status: 'running', ip: '192.168.1.100', note: '' } };
  const base = JSON.stringify(head).length;
  head.data.note = 'x'.repeat(Math.max(0, size - base));
  return JSON.stringify(head);
}

async function contenders(body) {
  const bytes = Buffer.from(body);
  const hex = signWebhook(body, SECRET);
  const ts = Math.floor(Date.now() / 1000);
  const ours = new Webhook(SECRET);
  const headers = { 'webhook-id': 'evt_abc123', 'webhook-timestamp': String(ts), 'webhook-signature': ours.sign('evt_abc123', ts, body) };
  const reference = new StandardWebhook(SECRET, { format: 'raw' });
  const key = await webcrypto.subtle.importKey('raw', new TextEncoder().encode(SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const rawSig = Buffer.from(hex, 'hex');
  const hw = await createHMAC(createSHA256(), SECRET);
  const check = (ok) => {
    if (ok !== true && ok?.type !== 'server.started') throw new Error('a contender failed to verify');
  };
  return [
    { name: "docs' snippet (node:crypto)", sync: true, run: () => check(docsVerify(body, hex, SECRET)) },
    { name: 'crypto.subtle.verify, cached key', sync: false, run: async () => check(await webcrypto.subtle.verify('HMAC', key, rawSig, bytes)) },
    { name: 'standardwebhooks Webhook.verify', sync: true, run: () => check(reference.verify(body, headers)) },
    { name: '@octokit/webhooks-methods verify', sync: false, run: async () => check(await octokitVerify(SECRET, body, `sha256=${hex}`)) },
    { name: 'hash-wasm HMAC', sync: true, run: () => { hw.init(); hw.update(bytes); check(hw.digest('hex') === hex); } },
    { name: 'cdhooks verifyWebhook (string)', sync: true, run: () => check(verifyWebhook(body, hex, SECRET)) },
    { name: 'cdhooks verifyWebhook (bytes)', sync: true, run: () => check(verifyWebhook(bytes, hex, SECRET)) },
    { name: 'cdhooks Webhook.verify', sync: true, run: () => check(ours.verify(body, headers)) },
  ];
}

/**
 * A receiver serving many endpoints: each verification uses the next of `n` secrets (one per
 * webhook), so a one-entry key cache would miss every time.
 */
function multiTenant(body, n) {
  const secrets = Array.from({ length: n }, (_, i) => `whsec_tenant_${i}_secret`.padEnd(32, 'x'));
  const hexes = secrets.map((secret) => signWebhook(body, secret));
  const ts = Math.floor(Date.now() / 1000);
  const hooks = secrets.map((secret) => new Webhook(secret.replace('whsec_', 'raw_')));
  const headers = hooks.map((wh) => ({ 'webhook-id': 'evt_abc123', 'webhook-timestamp': String(ts), 'webhook-signature': wh.sign('evt_abc123', ts, body) }));
  let i = 0;
  let j = 0;
  let k = 0;
  const check = (ok) => {
    if (ok !== true && ok?.type !== 'server.started') throw new Error('a contender failed to verify');
  };
  return [
    { name: `docs' snippet (node:crypto), ${n} secrets in turn`, sync: true, run: () => { i = (i + 1) % n; check(docsVerify(body, hexes[i], secrets[i])); } },
    { name: `cdhooks verifyWebhook (string), ${n} secrets in turn`, sync: true, run: () => { j = (j + 1) % n; check(verifyWebhook(body, hexes[j], secrets[j])); } },
    { name: `cdhooks Webhook.verify, ${n} Webhook objects in turn`, sync: true, run: () => { k = (k + 1) % n; check(hooks[k].verify(body, headers[k])); } },
  ];
}

/**
 * The event object of a verified body: `JSON.parse` in JavaScript (what the package does) or
 * built in wasm by `serde_json` + `serde-wasm-bindgen` (bench/serde-event).
 */
async function eventObject(body) {
  const { createRequire } = await import('node:module');
  const { parse_event: parseEvent } = createRequire(import.meta.url)('./serde-event/gen/cdhooks_bench_serde_event.js');
  const bytes = new TextEncoder().encode(body);
  const decoder = new TextDecoder();
  const check = (event) => {
    if (event?.type !== 'server.started') throw new Error('a contender failed to parse');
  };
  return [
    { name: 'event object: JSON.parse (the package)', sync: true, run: () => check(JSON.parse(decoder.decode(bytes))) },
    { name: 'event object: serde-wasm-bindgen', sync: true, run: () => check(parseEvent(bytes)) },
  ];
}

/**
 * Standard Webhooks `v1a` (Ed25519) with a public key: Node's own Ed25519 (OpenSSL), the
 * package in Node (the wasm checks everything but the curve equation, which OpenSSL checks)
 * and the package as every other runtime runs it (the equation in wasm). standardwebhooks
 * (1.1) verifies only `v1` entries, so it has no row here.
 */
function ed25519(body) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const whpk = `whpk_${raw.toString('base64')}`;
  const ts = String(Math.floor(Date.now() / 1000));
  const signature = edSign(null, Buffer.from(`evt_abc123.${ts}.${body}`), privateKey);
  const headers = { 'webhook-id': 'evt_abc123', 'webhook-timestamp': ts, 'webhook-signature': `v1a,${signature.toString('base64')}` };
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  const require = createRequire(import.meta.url);
  const { createApi } = require('../pkg/gen/api.cjs');
  const small = require('../pkg/gen/node/cdhooks_wasm.js');
  const full = require('../pkg/gen/node/cdhooks_full.js');
  const wasmOnly = createApi({ glue: small, memory: small.memory }, () => ({ glue: full, memory: full.memory }));
  const ours = new Webhook(whpk);
  const oursWasm = new wasmOnly.Webhook(whpk);
  const check = (ok) => {
    if (ok?.type !== 'server.started') throw new Error('a contender failed to verify');
  };
  return [
    {
      name: 'node:crypto Ed25519 verify, cached key, + JSON.parse',
      sync: true,
      run: () => check(edVerify(null, Buffer.from(`evt_abc123.${ts}.${body}`), key, signature) && JSON.parse(body)),
    },
    { name: 'cdhooks Webhook.verify, whpk_ (Node: wasm + OpenSSL)', sync: true, run: () => check(ours.verify(body, headers)) },
    { name: 'cdhooks Webhook.verify, whpk_ (wasm only: Deno, Bun, browsers, workerd)', sync: true, run: () => check(oursWasm.verify(body, headers)) },
  ];
}

async function slice(c) {
  // Each slice starts on a clean heap, so no contender pays for another's garbage.
  globalThis.gc?.();
  const end = performance.now() + SLICE_MS;
  let ops = 0;
  const start = performance.now();
  if (c.sync) {
    while (performance.now() < end) {
      for (let i = 0; i < 16; i++) c.run();
      ops += 16;
    }
  } else {
    while (performance.now() < end) {
      await c.run();
      ops++;
    }
  }
  return { ops, ms: performance.now() - start };
}

const rows = [];
const CASES = [
  ...SIZES.map(([label, size]) => [label, eventBody(size), contenders]),
  ['300 B, 2 tenants', eventBody(300), (body) => multiTenant(body, 2)],
  ['300 B, 100 tenants', eventBody(300), (body) => multiTenant(body, 100)],
  ['300 B, v1a', eventBody(300), ed25519],
  ['64 KiB, v1a', eventBody(65536), ed25519],
  ['300 B, event object', eventBody(300), eventObject],
  ['64 KiB, event object', eventBody(65536), eventObject],
];
for (const [label, body, make] of CASES) {
  const list = await make(body);
  for (const c of list) await slice({ ...c, run: c.run }); // warm-up
  const totals = list.map(() => ({ ops: 0, ms: 0 }));
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < list.length; i++) {
      const r = await slice(list[i]);
      totals[i].ops += r.ops;
      totals[i].ms += r.ms;
    }
  }
  const docs = totals[0].ops / totals[0].ms;
  list.forEach((c, i) => {
    const perMs = totals[i].ops / totals[i].ms;
    rows.push({ size: label, name: c.name, opsPerSec: perMs * 1000, mbPerSec: (perMs * 1000 * body.length) / 1e6, ratio: perMs / docs });
  });
  process.stderr.write(`${label} done\n`);
}

const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
let table = '| payload | implementation | ops/s | MB/s | × first row of its payload |\n|---|---|---:|---:|---:|\n';
for (const r of rows) table += `| ${r.size} | ${r.name} | ${fmt(r.opsPerSec)} | ${fmt(r.mbPerSec)} | ${r.ratio.toFixed(2)} |\n`;
const by = (size, name) => rows.find((r) => r.size === size && r.name === name);
const summary = [
  `verifyWebhook (string, 300 B) vs docs' snippet: ${by('300 B', 'cdhooks verifyWebhook (string)').ratio.toFixed(2)}× (target 1.8×)`,
  `Webhook.verify vs standardwebhooks (300 B): ${(by('300 B', 'cdhooks Webhook.verify').opsPerSec / by('300 B', 'standardwebhooks Webhook.verify').opsPerSec).toFixed(1)}× (target 4×)`,
  ...[2, 100].map((n) => `verifyWebhook (string, 300 B, ${n} secrets in turn) vs docs' snippet with the same secrets: ${by(`300 B, ${n} tenants`, `cdhooks verifyWebhook (string), ${n} secrets in turn`).ratio.toFixed(2)}× (target 1.25×)`),
  ...['300 B', '64 KiB'].map((size) => `event object at ${size}: JSON.parse ${(by(`${size}, event object`, 'event object: JSON.parse (the package)').opsPerSec / by(`${size}, event object`, 'event object: serde-wasm-bindgen').opsPerSec).toFixed(1)}× serde-wasm-bindgen`),
  ...['300 B', '64 KiB'].map((size) => `v1a at ${size}: the package in Node ${by(`${size}, v1a`, 'cdhooks Webhook.verify, whpk_ (Node: wasm + OpenSSL)').ratio.toFixed(2)}×, wasm only ${by(`${size}, v1a`, 'cdhooks Webhook.verify, whpk_ (wasm only: Deno, Bun, browsers, workerd)').ratio.toFixed(2)}× Node's own Ed25519`),
  `verifyWebhook (bytes, 1 MiB) vs hash-wasm: ${(by('1 MiB', 'cdhooks verifyWebhook (bytes)').opsPerSec / by('1 MiB', 'hash-wasm HMAC').opsPerSec).toFixed(2)}× (target 1.05×)`,
];
const commit = execSync('git rev-parse --short HEAD').toString().trim();
const report = `# JS verification benchmark\n\n\`make bench-js\` on ${new Date().toISOString().slice(0, 16)}Z, commit \`${commit}\`, Node ${process.version}, ${cpus().length} cores, ${cpus()[0]?.model?.trim()}. ${ROUNDS} interleaved rounds of ${SLICE_MS} ms per implementation and size${globalThis.gc ? ', each slice after a full GC' : ''}.\n\n${table}\n${summary.map((s) => `- ${s}`).join('\n')}\n`;
console.log(`\n${table}\n${summary.join('\n')}`);
writeFileSync(new URL('JS-RESULTS.md', import.meta.url), report);
