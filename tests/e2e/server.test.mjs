// The docs' flow against the real server binary, checked the way receivers check it: the
// legacy signature with the docs' own snippet, the v1 signature with the reference
// `standardwebhooks` library, and both with the `cdhooks` package.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook as Reference } from 'standardwebhooks';
import { verifyWebhook, Webhook } from 'cdhooks';
import { docsVerify } from '../../pkg/test/helpers.mjs';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_BIN, freePort, receiver, startServer, until } from '../support.mjs';

const SECRET = 'your_webhook_secret';
const DOCS_EVENTS = ['server.started', 'server.stopped', 'server.error'];

test("the docs' flow: register, emit all nine types, verify what arrives", async () => {
  const { base, key, stop } = await startServer();
  const rx = await receiver({ path: '/webhooks/cdhosting', status: 200 });
  const api = (path, body) =>
    fetch(base + path, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
  try {
    // The docs' registration body, with our loopback receiver as the URL.
    const created = await api('/v1/webhooks', { url: rx.url, events: DOCS_EVENTS, secret: SECRET });
    assert.equal(created.status, 201);
    const { id } = await created.json();
    const types = (await (await fetch(`${base}/v1/event-types`)).json()).data;
    assert.equal(types.length, 9);
    for (const t of types) {
      const r = await api('/v1/events', { type: t.name, data: t.example });
      assert.equal(r.status, 202);
    }
    // Once the server has recorded three deliveries as succeeded, nothing more goes out for
    // them: the count is exact.
    await until('three deliveries succeeded', async () => {
      const { data } = await (await api(`/v1/webhooks/${id}/deliveries`)).json();
      return data.length === 3 && data.every((d) => d.status === 'succeeded');
    });
    assert.equal(rx.got.length, 3);
    const reference = new Reference(SECRET, { format: 'raw' });
    const ours = new Webhook(SECRET);
    for (const { headers, body } of rx.got) {
      const event = JSON.parse(body);
      assert.ok(DOCS_EVENTS.includes(event.type));
      assert.deepEqual(Object.keys(event), ['id', 'type', 'created_at', 'data']);
      assert.match(event.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(docsVerify(body, headers['x-webhook-signature'], SECRET), true);
      assert.equal(verifyWebhook(body, headers['x-webhook-signature'], SECRET), true);
      assert.deepEqual(reference.verify(body.toString(), headers), event);
      assert.deepEqual(ours.verify(body, headers), event);
      assert.equal(headers['x-webhook-event'], event.type);
      assert.equal(headers['webhook-id'], event.id);
    }
  } finally {
    rx.server.close();
    await stop();
  }
});

test("`dev` (what `make run` starts) prints a signed-in link and an inbox that completes the docs' flow", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdhooks-dev-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // From another directory: nothing may depend on the repository being the working directory.
  const child = spawn(SERVER_BIN, ['dev', '--data-dir', join(dir, 'data'), '--bind', `127.0.0.1:${port}`], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let banner = '';
  child.stdout.on('data', (chunk) => (banner += chunk));
  try {
    await until('the banner', () => banner.includes('see the delivery arrive'));
    const key = /#key=(cdh_[\w-]+)/.exec(banner)?.[1];
    assert.ok(key, banner);
    const inboxUrl = /An inbox that records every request it receives: (\S+)/.exec(banner)?.[1];
    assert.match(inboxUrl, new RegExp(`^${base}/inbox/inb_[0-9a-f]{32}$`));
    const token = inboxUrl.split('/').pop();
    assert.ok(banner.includes(`${base}/#inbox=${token}&secret=${SECRET}&key=${key}`));
    const call = (path, body) =>
      fetch(base + path, { method: body ? 'POST' : 'GET', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    // The banner's curl commands: the docs' bodies with the inbox as the URL.
    assert.equal((await call('/v1/webhooks', { url: inboxUrl, events: DOCS_EVENTS, secret: SECRET })).status, 201);
    const data = { server_id: 'srv_abc123', name: 'production-web-01', status: 'running', ip: '192.168.1.100' };
    assert.equal((await call('/v1/events', { type: 'server.started', data })).status, 202);
    const captured = await until('the inbox capture', async () => {
      const { data } = await (await call(`/v1/inboxes/${token}/requests`)).json();
      return data.length > 0 && data;
    });
    const [request] = captured;
    const headers = Object.fromEntries(request.headers.map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(verifyWebhook(Buffer.from(request.body_base64, 'base64'), headers['x-webhook-signature'], SECRET), true);
    // The page the link opens is served from the binary.
    assert.match(await (await fetch(`${base}/`)).text(), /<title>cdhooks/);
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
});
