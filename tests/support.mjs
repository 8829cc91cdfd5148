// Shared by the JS end-to-end tests: a free loopback port, and the real server binary started
// on a fresh data dir with one account.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const SERVER_BIN = join(root, 'target', 'debug', 'cdhooks-server');

/**
 * Polls `check` (sync or async) until it returns something truthy, and returns that; throws
 * naming `what` after `ms`.
 */
export async function until(what, check, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A webhook receiver on 127.0.0.1 that answers every request with `status` and records it as
 * `{ headers, body (Buffer), text }` in `got`; `url` ends in `path`.
 */
export function receiver({ path = '/hook', status = 204 } = {}) {
  const got = [];
  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      got.push({ headers: req.headers, body, text: body.toString() });
      res.writeHead(status).end(status === 204 ? undefined : 'ok');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, got, url: `http://127.0.0.1:${server.address().port}${path}` })));
}

/** `fetch` of the API as the account with `key`, answering the parsed JSON body. */
export function accountApi(base, key) {
  return (method, path, body) =>
    fetch(base + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) }).then((r) => r.json());
}

/** Emits one `server.started` event and resolves to the request `rx` gets next for it. */
export async function nextDelivery(api, rx) {
  const before = rx.got.length;
  await api('POST', '/v1/events', { type: 'server.started', data: { server_id: 'srv_1', name: 'web-1', status: 'running', ip: '192.0.2.1' } });
  await until('the next delivery', () => rx.got.length > before);
  return rx.got.at(-1);
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `cdhooks-server serve` with loopback targets and http allowed, plus `extraArgs`;
 * resolves once /healthz answers, with the account's id and key (scope full) and a platform
 * key (`platform`). `stop()` sends SIGTERM, waits, and removes the data dir.
 * `cwd` runs it from another directory (the binary must not depend on where it starts).
 */
export async function startServer(extraArgs = [], { cwd } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cdhooks-e2e-'));
  const created = execFileSync(SERVER_BIN, ['accounts', 'create', '--email', 'owner@example.com', '--data-dir', dir]);
  const key = created.toString().trim().split('\n').pop();
  const account = created.toString().split(' ')[1];
  const platform = execFileSync(SERVER_BIN, ['platform-keys', 'create', '--name', 'e2e', '--data-dir', dir]).toString().trim().split('\n').pop();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(
    SERVER_BIN,
    ['serve', '--bind', `127.0.0.1:${port}`, '--data-dir', dir, '--allow-target', '127.0.0.0/8', '--allow-http', ...extraArgs],
    { stdio: 'ignore', cwd },
  );
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { base, key, account, platform, dir, stop };
    } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
  await stop();
  throw new Error(`the server at ${base} did not start`);
}
