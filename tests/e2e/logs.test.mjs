// The server's log as an operator reads it from a file or a log shipper: no colour codes
// when stderr is not a terminal, one JSON object per line with --log-format json, the
// operator-visible changes on INFO lines, and never a secret, a signature or an API key.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, SERVER_BIN } from '../support.mjs';

async function run(extraArgs, work) {
  const dir = mkdtempSync(join(tmpdir(), 'cdhooks-logs-'));
  const key = execFileSync(SERVER_BIN, ['accounts', 'create', '--email', 'owner@example.com', '--data-dir', dir]).toString().trim().split('\n').pop();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(SERVER_BIN, [...extraArgs, 'serve', '--bind', `127.0.0.1:${port}`, '--data-dir', dir, '--allow-http', '--allow-target', '127.0.0.0/8', '--max-attempts', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    for (let i = 0; i < 200; i++) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch {}
      await new Promise((r) => setTimeout(r, 25));
    }
    const api = (method, path, body) =>
      fetch(base + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) }).then((r) => r.json());
    const seen = await work(api);
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    await exited;
    return { log, key, seen };
  } finally {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Registers a webhook to a receiver that answers 500 once, rotates its secret, lets it be disabled. */
async function flows(api) {
  const signatures = [];
  const receiver = createServer((req, res) => {
    signatures.push(req.headers['x-webhook-signature'], req.headers['webhook-signature']);
    req.resume();
    req.on('end', () => res.writeHead(500).end('down'));
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${receiver.address().port}/hook`;
  try {
    const secret = 'logsecret_0123456789abcdef';
    const webhook = await api('POST', '/v1/webhooks', { url, events: ['*'], secret });
    const rotated = await api('POST', `/v1/webhooks/${webhook.id}/rotate-secret`);
    await api('POST', '/v1/events', { type: 'server.error', data: { server_id: 'srv_1', name: 'web-1', status: 'error', error: 'disk_full', message: 'Root volume is 100% full' } });
    for (let i = 0; i < 100 && !(await api('GET', `/v1/webhooks/${webhook.id}`)).disabled_reason; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await api('PATCH', `/v1/webhooks/${webhook.id}`, { enabled: true });
    return { secrets: [secret, rotated.secret], signatures: signatures.filter(Boolean), webhook: webhook.id };
  } finally {
    receiver.close();
  }
}

test('text logs: no colour codes off a terminal, changes on INFO lines, no secrets', async () => {
  const { log, key, seen } = await run([], flows);
  assert.doesNotMatch(log, /\x1b\[/, 'ANSI escape codes in a log file');
  assert.match(log, /INFO.*webhook registered/);
  assert.match(log, /INFO.*webhook secret rotated/);
  assert.match(log, new RegExp(`INFO.*webhook disabled.*reason=.*1 consecutive failed attempt`));
  assert.match(log, /INFO.*webhook enabled/);
  assert.match(log, /INFO.*email sent/);
  assert.match(log, /attempt failed.*status=500/);
  assert.ok(seen.signatures.length >= 2, 'the receiver saw signatures');
  for (const secret of [key, ...seen.secrets, ...seen.signatures]) {
    assert.ok(!log.includes(secret), `the log contains ${secret.slice(0, 12)}…`);
  }
});

test('--log-format json: one object per line with timestamp, level, message and fields', async () => {
  const { log, key, seen } = await run(['--log-format', 'json'], flows);
  const lines = log.trim().split('\n');
  assert.ok(lines.length >= 5, log);
  const entries = lines.map((line) => JSON.parse(line));
  for (const entry of entries) {
    assert.ok(entry.timestamp && entry.level && entry.message, JSON.stringify(entry));
  }
  const disabled = entries.find((e) => e.message.startsWith('webhook disabled'));
  assert.equal(disabled.level, 'INFO');
  assert.equal(disabled.webhook, seen.webhook);
  assert.match(disabled.reason, /failed attempt/);
  const failed = entries.find((e) => e.message === 'attempt failed');
  assert.equal(failed.status, 500);
  for (const secret of [key, ...seen.secrets, ...seen.signatures]) assert.ok(!log.includes(secret));
});
