// The browser tool in real Chromium against the real server: verify a valid and a tampered
// delivery; create an inbox and a webhook to it, emit, watch it arrive verified; see a webhook
// disabled after failures and re-enable it. Screenshots go to tests/artifacts/ (not committed).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { signWebhook, Webhook } from 'cdhooks';
import { freePort, root, startServer } from '../support.mjs';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(root, 'tests', 'artifacts');
const available = existsSync(CHROMIUM);

let server, base, key, browser, page;

before(async () => {
  if (!available) return;
  server = await startServer(['--retry-base-ms', '20', '--max-attempts', '2', '--attempt-timeout-ms', '1000',
    '--www-dir', join(root, 'www'), '--pkg-dir', join(root, 'pkg')]);
  ({ base, key } = server);
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage();
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
  // The page must not talk to any other host.
  page.on('request', (r) => assert.ok(r.url().startsWith(base), `request to another host: ${r.url()}`));
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.goto(`${base}/`);
  await page.waitForSelector('html[data-ready="true"]');
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

function skipWithoutChromium(t) {
  if (available) return false;
  if (process.env.CI === 'true') assert.fail(`${CHROMIUM} is missing; .ci/run installs Debian's chromium`);
  t.skip(`${CHROMIUM} not installed; skipped outside CI`);
  return true;
}

test('verify a valid and a tampered delivery in the page', async (t) => {
  if (skipWithoutChromium(t)) return;
  const body = '{"id":"evt_abc123","type":"server.started","created_at":"2025-01-15T10:30:00Z","data":{"status":"running"}}';
  const secret = 'your_webhook_secret';
  const ts = Math.floor(Date.now() / 1000);
  const raw = [
    'POST /webhooks/cdhosting HTTP/1.1',
    'Host: yourapp.com',
    'Content-Type: application/json',
    `X-Webhook-Signature: ${signWebhook(body, secret)}`,
    'webhook-id: evt_abc123',
    `webhook-timestamp: ${ts}`,
    `webhook-signature: ${new Webhook(secret).sign('evt_abc123', ts, body)}`,
    '',
    body,
  ].join('\r\n');
  await page.click('button[data-view="verify"]');
  await page.fill('#verify-input', raw);
  await page.fill('#verify-secret', secret);
  await page.click('#verify-form button[type="submit"]');
  const results = page.locator('#verify-result .result');
  await assert.doesNotReject(results.first().waitFor());
  assert.deepEqual(await results.evaluateAll((els) => els.map((e) => e.dataset.ok)), ['true', 'true']);
  await page.screenshot({ path: join(ARTIFACTS, 'verify-valid.png'), fullPage: true });

  await page.fill('#verify-input', raw.replace('"running"', '"stopped"'));
  await page.click('#verify-form button[type="submit"]');
  await page.waitForSelector('#verify-result .result[data-ok="false"]');
  const codes = await page.locator('#verify-result .result').evaluateAll((els) => els.map((e) => e.dataset.code));
  assert.deepEqual(codes, ['signature_mismatch', 'signature_mismatch']);
  assert.match(await page.textContent('#verify-result'), /wrong secret, or a body that changed/);
  await page.screenshot({ path: join(ARTIFACTS, 'verify-tampered.png'), fullPage: true });
});

test('inbox: register a webhook to it, emit, watch the delivery arrive verified', async (t) => {
  if (skipWithoutChromium(t)) return;
  await page.click('button[data-view="dashboard"]');
  await page.fill('#api-key', key);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('#key-status .ok');
  await page.click('button[data-view="inbox"]');
  await page.click('#inbox-create');
  const inboxUrl = await page.textContent('#inbox-url-value');
  assert.match(inboxUrl, /\/inbox\/inb_[0-9a-f]{32}$/);
  await page.click('#inbox-use');
  assert.equal(await page.inputValue('#create-url'), inboxUrl);
  await page.check('#event-server-started');
  await page.fill('#create-secret', 'your_webhook_secret');
  await page.click('#create-form button[type="submit"]');
  await page.waitForSelector('#create-result .ok');
  await page.selectOption('#emit-type', 'server.started');
  assert.match(await page.inputValue('#emit-data'), /production-web-01/);
  await page.click('#emit-form button[type="submit"]');
  await page.waitForSelector('#emit-result .ok');
  assert.match(await page.textContent('#emit-result'), /1 delivery/);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  await page.click('button[data-view="inbox"]');
  await page.fill('#inbox-secret', 'your_webhook_secret');
  await page.waitForSelector('#inbox-requests li .result[data-ok="true"]', { timeout: 10000 });
  const verdicts = await page.locator('#inbox-requests li').first().locator('.result').evaluateAll((els) => els.map((e) => e.dataset.ok));
  assert.deepEqual(verdicts, ['true', 'true']);
  await page.screenshot({ path: join(ARTIFACTS, 'inbox.png'), fullPage: true });
});

test('a failing webhook is shown disabled and can be re-enabled', async (t) => {
  if (skipWithoutChromium(t)) return;
  const closed = await freePort();
  const created = await fetch(`${base}/v1/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `http://127.0.0.1:${closed}/down`, events: ['server.error'], secret: 'your_webhook_secret' }),
  }).then((r) => r.json());
  await page.click('button[data-view="dashboard"]');
  await page.selectOption('#emit-type', 'server.error');
  await page.click('#emit-form button[type="submit"]');
  const row = page.locator(`tr[data-webhook="${created.id}"]`);
  await row.locator('.status .bad').waitFor({ timeout: 10000 });
  assert.match(await row.locator('.status').textContent(), /disabled.*2 consecutive failed attempts/s);
  await row.getByRole('button', { name: 'Deliveries' }).click();
  await page.waitForSelector('#deliveries li[data-status="failed"]');
  await page.screenshot({ path: join(ARTIFACTS, 'disabled.png'), fullPage: true });
  await row.getByRole('button', { name: 'Enable' }).click();
  await row.locator('.status .ok').waitFor();
  const webhook = await fetch(`${base}/v1/webhooks/${created.id}`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.json());
  assert.equal(webhook.enabled, true);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(ARTIFACTS, 'phone.png'), fullPage: true });
});
