// The browser tool in real Chromium against the real server binary (started from another
// directory, so the tool must come from the binary itself): each view has a URL, a `#key=`
// link connects, verify and sign explain every failure, the inbox goes from nothing to a
// verified delivery in two clicks, test events, a delivery's request and response, a
// disabled webhook re-enabled, the layout at 1280 px. Any uncaught page error or console
// error fails the test. Screenshots go to tests/artifacts/ (not committed).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { signWebhook, Webhook } from 'cdhooks';
import { freePort, root, startServer, until } from '../support.mjs';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(root, 'tests', 'artifacts');
const available = existsSync(CHROMIUM);
const SECRET = 'your_webhook_secret';

let server, base, key, browser, context, page, elsewhere;
let problems = [];

before(async () => {
  if (!available) return;
  elsewhere = mkdtempSync(join(tmpdir(), 'cdhooks-cwd-'));
  server = await startServer(['--retry-base-ms', '20', '--max-attempts', '2', '--attempt-timeout-ms', '1000'], { cwd: elsewhere });
  ({ base, key } = server);
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (elsewhere) rmSync(elsewhere, { recursive: true, force: true });
});

// A fresh tab (and sessionStorage) per test, watched for errors and for other hosts.
beforeEach(async () => {
  if (!available) return;
  problems = [];
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()} (${m.location().url})`));
  page.on('request', (r) => r.url().startsWith(base) || problems.push(`request to another host: ${r.url()}`));
});

afterEach(async () => {
  await context?.close();
  context = null;
  assert.deepEqual(problems, [], 'the page logged errors');
});

function skipWithoutChromium(t) {
  if (available) return false;
  if (process.env.CI === 'true') assert.fail(`${CHROMIUM} is missing; .ci/run installs Debian's chromium`);
  t.skip(`${CHROMIUM} not installed; skipped outside CI`);
  return true;
}

async function open(fragment = '') {
  await page.goto(`${base}/${fragment}`);
  await page.waitForSelector('html[data-ready="true"]');
}

async function apiCall(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body && JSON.stringify(body),
  });
  return response.json();
}

const location = () => new URL(page.url()).hash;
const visibleView = () => page.locator('section.view:not([hidden])').getAttribute('id');

/** Clicks a view's tab and waits until the view shows (hashchange is handled asynchronously). */
async function tab(view) {
  await page.click(`a[data-view="${view}"]`);
  await page.waitForSelector(`#view-${view}:not([hidden])`);
}

function rawRequest(body, secret, ts = Math.floor(Date.now() / 1000)) {
  return [
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
}

async function verify(raw, secret) {
  await page.fill('#verify-input', raw);
  await page.fill('#verify-secret', secret);
  await page.click('#verify-form button[type="submit"]');
  await page.locator('#verify-result .result').first().waitFor();
  return page.locator('#verify-result .result').evaluateAll((els) => els.map((e) => ({ ok: e.dataset.ok, code: e.dataset.code, text: e.textContent })));
}

test('the server serves the tool from any directory, with a favicon and no console error', async (t) => {
  if (skipWithoutChromium(t)) return;
  await open();
  assert.equal(await visibleView(), 'view-verify');
  const favicon = await fetch(`${base}/favicon.ico`);
  assert.equal(favicon.status, 200);
  assert.match(favicon.headers.get('content-type'), /^image\//);
  const wasm = await fetch(`${base}/pkg/gen/web/cdhooks_wasm_bg.wasm`);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  const unknown = await fetch(`${base}/v1/no-such-route`);
  assert.equal(unknown.status, 404);
  assert.equal((await unknown.json()).error.code, 'not_found');
});

test('verify a valid and a tampered delivery in the page', async (t) => {
  if (skipWithoutChromium(t)) return;
  await open('#verify');
  const body = '{"id":"evt_abc123","type":"server.started","created_at":"2025-01-15T10:30:00Z","data":{"status":"running"}}';
  const raw = rawRequest(body, SECRET);
  assert.deepEqual((await verify(raw, SECRET)).map((r) => r.ok), ['true', 'true']);
  await page.screenshot({ path: join(ARTIFACTS, 'verify-valid.png'), fullPage: true });

  const tampered = await verify(raw.replace('"running"', '"stopped"'), SECRET);
  assert.deepEqual(tampered.map((r) => r.code), ['signature_mismatch', 'signature_mismatch']);
  assert.match(tampered[1].text, /Check the secret, and verify the raw request body/);
  // The signature is well-formed hex: the page must not claim otherwise.
  assert.doesNotMatch(tampered[1].text, /64 lowercase hex/);
  const uppercase = raw.replace(/X-Webhook-Signature: (\w+)/, (_, sig) => `X-Webhook-Signature: ${sig.toUpperCase()}`);
  const results = await verify(uppercase, SECRET);
  assert.match(results[1].text, /must be exactly 64 lowercase hex digits, and it is not/);
  await page.screenshot({ path: join(ARTIFACTS, 'verify-tampered.png'), fullPage: true });

  // A whsec_ key pasted without its prefix: the explanation says so.
  const key = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
  const prefixed = await verify(rawRequest(body, `whsec_${key}`), key);
  assert.equal(prefixed[0].code, 'signature_mismatch');
  assert.match(prefixed[0].text, /without its 'whsec_' prefix/);
});

test('an Ed25519 (v1a) delivery verifies with the public key in the page, and nothing else does', async (t) => {
  if (skipWithoutChromium(t)) return;
  await open('#verify');
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const whpk = `whpk_${Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('base64')}`;
  const body = '{"id":"evt_abc123","type":"server.started","created_at":"2025-01-15T10:30:00Z","data":{"status":"running"}}';
  const ts = Math.floor(Date.now() / 1000);
  const signature = sign(null, Buffer.from(`evt_abc123.${ts}.${body}`), privateKey).toString('base64');
  const raw = rawRequest(body, SECRET, ts).replace(/webhook-signature: (\S+)/, `webhook-signature: $1 v1a,${signature}`);
  const results = await verify(raw, whpk);
  assert.deepEqual(results.map((r) => [r.ok, r.code ?? '']), [['true', ''], ['false', 'no_supported_signature']]);
  assert.match(results[0].text, /v1a \(Ed25519, public key\).*Verified: server\.started/);
  assert.match(results[1].text, /needs the webhook's secret/);
  await page.screenshot({ path: join(ARTIFACTS, 'verify-v1a.png'), fullPage: true });
  // Tampered: a mismatch; another key: a mismatch; only v1 entries: nothing the key can check.
  assert.equal((await verify(raw.replace('"running"', '"stopped"'), whpk))[0].code, 'signature_mismatch');
  const other = `whpk_${Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x, 'base64url').toString('base64')}`;
  assert.equal((await verify(raw, other))[0].code, 'signature_mismatch');
  assert.equal((await verify(rawRequest(body, SECRET, ts), whpk))[0].code, 'no_supported_signature');
  // The secret still verifies the same request's v1 and hex signatures.
  assert.deepEqual((await verify(raw, SECRET)).map((r) => r.ok), ['true', 'true']);
});

test('a correctly signed body of null verifies without crashing the view', async (t) => {
  if (skipWithoutChromium(t)) return;
  await open('#verify');
  const results = await verify(rawRequest('null', SECRET), SECRET);
  assert.deepEqual(results.map((r) => r.ok), ['true', 'true']);
  assert.match(results[0].text, /not an event object/);
});

test('signing with a whsec_ secret that is not base64 explains it and leaves no stale headers', async (t) => {
  if (skipWithoutChromium(t)) return;
  await open('#verify');
  await page.fill('#verify-input', '{"a":1}');
  await page.fill('#verify-secret', SECRET);
  await page.click('#sign-button');
  await page.waitForSelector('#sign-output:not([hidden])');
  assert.equal(await page.textContent('#sign-title'), 'Headers a sender would send with this body now');
  assert.match(await page.textContent('#sign-result'), /X-Webhook-Signature: [0-9a-f]{64}/);

  await page.fill('#verify-secret', 'whsec_!!not base64!!');
  await page.click('#sign-button');
  await page.waitForSelector('#verify-result .result[data-code="invalid_secret"]');
  assert.match(await page.textContent('#verify-result'), /not valid base64/);
  assert.equal(await page.isHidden('#sign-output'), true);
  assert.equal(await page.textContent('#sign-result'), '');
});

test('each view has a URL, and back and forward move between them', async (t) => {
  if (skipWithoutChromium(t)) return;
  await open('#dashboard');
  assert.equal(await visibleView(), 'view-dashboard');
  await tab('inbox');
  assert.equal(await visibleView(), 'view-inbox');
  assert.ok(page.url().endsWith('#inbox'));
  await tab('events');
  assert.equal(await visibleView(), 'view-events');
  await page.goBack();
  await page.waitForSelector('#view-inbox:not([hidden])');
  assert.equal(location(), '#inbox');
  await page.goBack();
  await page.waitForSelector('#view-dashboard:not([hidden])');
  assert.equal(location(), '#dashboard');
  await page.goForward();
  await page.waitForSelector('#view-inbox:not([hidden])');
  assert.equal(await visibleView(), 'view-inbox');
});

test('a #key= link opens the Dashboard connected and drops the key from the address', async (t) => {
  if (skipWithoutChromium(t)) return;
  await open(`#key=${key}`);
  await page.waitForSelector('#key-status .ok');
  assert.equal(await visibleView(), 'view-dashboard');
  assert.ok(page.url().endsWith('#dashboard'), page.url());
  assert.ok(!page.url().includes(key));
  assert.equal(await page.isVisible('#dashboard-body'), true);
  // The key stays with the tab: a reload is still connected.
  await page.reload();
  await page.waitForSelector('#key-status .ok');
});

test('inbox: one action registers a webhook to it, the next sends a test event, the delivery shows verified', async (t) => {
  if (skipWithoutChromium(t)) return;
  await open(`#key=${key}`);
  await page.waitForSelector('#key-status .ok');
  await tab('inbox');
  await page.click('#inbox-create');
  const inboxUrl = await page.textContent('#inbox-url-value');
  assert.match(inboxUrl, /\/inbox\/inb_[0-9a-f]{32}$/);
  await page.click('#inbox-use');
  await page.waitForSelector('#inbox-next .ok');
  assert.match(await page.textContent('#inbox-next'), /Registered wh_\w+ for all events/);
  assert.match(await page.inputValue('#inbox-secret'), /^whsec_/);
  const webhooks = await apiCall('GET', '/v1/webhooks?limit=200');
  const registered = webhooks.data.find((w) => w.url === inboxUrl);
  assert.deepEqual(registered.events, ['*']);
  await page.selectOption('#inbox-test-type', 'billing.payment.failed');
  await page.click('#inbox-test');
  await page.waitForSelector('#inbox-test-result .ok');
  await page.waitForSelector('#inbox-requests li .result[data-ok="true"]', { timeout: 10000 });
  const first = page.locator('#inbox-requests li').first();
  assert.deepEqual(await first.locator('.result').evaluateAll((els) => els.map((e) => e.dataset.ok)), ['true', 'true']);
  assert.match(await first.textContent(), /billing\.payment\.failed/);
  await page.screenshot({ path: join(ARTIFACTS, 'inbox.png'), fullPage: true });
});

test("the dev banner's inbox link shows captures verified without typing a secret", async (t) => {
  if (skipWithoutChromium(t)) return;
  const inbox = await apiCall('POST', '/v1/inboxes');
  const webhook = await apiCall('POST', '/v1/webhooks', { url: `${base}/inbox/${inbox.token}`, events: ['server.started'], secret: SECRET });
  await apiCall('POST', '/v1/events', { type: 'server.started', data: { server_id: 'srv_abc123', name: 'web-1', status: 'running', ip: '192.0.2.1' } });
  await open(`#inbox=${inbox.token}&secret=${SECRET}&key=${key}`);
  assert.equal(await visibleView(), 'view-inbox');
  assert.ok(page.url().endsWith('#inbox'));
  await page.waitForSelector('#inbox-requests li .result[data-ok="true"]', { timeout: 10000 });
  assert.equal(await page.inputValue('#inbox-secret'), SECRET);
  assert.ok(webhook.id);
});

test('event types: the catalog with examples, and one emitted from it to one webhook only', async (t) => {
  if (skipWithoutChromium(t)) return;
  const catalog = (await (await fetch(`${base}/v1/event-types`)).json()).data;
  const rxA = await apiCall('POST', '/v1/inboxes');
  const rxB = await apiCall('POST', '/v1/inboxes');
  const a = await apiCall('POST', '/v1/webhooks', { url: `${base}/inbox/${rxA.token}`, events: ['billing.*'], secret: SECRET });
  const b = await apiCall('POST', '/v1/webhooks', { url: `${base}/inbox/${rxB.token}`, events: ['billing.*'], secret: SECRET });
  await open(`#key=${key}`);
  await page.waitForSelector('#key-status .ok');
  await tab('events');
  const items = page.locator('#event-types li');
  assert.equal(await items.count(), catalog.length);
  const refund = page.locator('#event-types li[data-type="billing.payment.failed"]');
  assert.match(await refund.locator('pre.example').textContent(), /"failure_reason"|"payment_id"/);
  await refund.getByRole('button', { name: 'Emit this in the Dashboard' }).click();
  await page.waitForSelector('#view-dashboard:not([hidden])');
  assert.equal(await page.inputValue('#emit-type'), 'billing.payment.failed');
  await page.selectOption('#emit-target', a.id);
  await page.click('#emit-form button[type="submit"]');
  await page.waitForSelector('#emit-result .ok');
  assert.match(await page.textContent('#emit-result'), /1 delivery/);
  // Only webhook A got it.
  await page.locator(`tr[data-webhook="${a.id}"]`).getByRole('button', { name: 'Deliveries' }).click();
  await page.waitForSelector('#deliveries li[data-status="succeeded"]', { timeout: 10000 });
  assert.equal((await apiCall('GET', `/v1/webhooks/${b.id}/deliveries`)).data.length, 0);
  // The delivery's request as sent and the inbox's answer.
  await page.locator('#deliveries details summary').first().click();
  const request = page.locator('#deliveries pre.request').first();
  await request.waitFor();
  const text = await request.textContent();
  assert.match(text, new RegExp(`^POST ${base}/inbox/${rxA.token}`));
  assert.match(text, /x-webhook-signature: [0-9a-f]{64}/);
  assert.match(text, /webhook-signature: v1,/);
  assert.match(text, /"type":"billing.payment.failed"/);
  // The signatures shown are the ones a receiver checks.
  const body = text.slice(text.indexOf('\n\n') + 2);
  const legacy = /x-webhook-signature: ([0-9a-f]{64})/.exec(text)[1];
  assert.equal(signWebhook(body, SECRET), legacy);
  assert.match(await page.locator('#deliveries pre.response').first().textContent(), /^HTTP 2\d\d/);
  await page.screenshot({ path: join(ARTIFACTS, 'delivery-request.png'), fullPage: true });
});

test('a failing webhook is shown disabled and can be re-enabled; the layout holds at 1280 px', async (t) => {
  if (skipWithoutChromium(t)) return;
  const closed = await freePort();
  const created = await apiCall('POST', '/v1/webhooks', {
    url: `http://127.0.0.1:${closed}/a/rather/long/path/to/the/receiver/webhooks/cdhosting`,
    events: ['server.error'],
    secret: SECRET,
  });
  await open(`#key=${key}`);
  await page.waitForSelector('#key-status .ok');
  await page.selectOption('#emit-type', 'server.error');
  await page.click('#emit-form button[type="submit"]');
  const row = page.locator(`tr[data-webhook="${created.id}"]`);
  await row.locator('.status .bad').waitFor({ timeout: 10000 });
  assert.match(await row.locator('.status').textContent(), /disabled.*2 consecutive failed attempts/s);
  await row.getByRole('button', { name: 'Deliveries' }).click();
  await page.waitForSelector('#deliveries li[data-status="failed"]');
  // At 1280 px: the status word and the URL stay on one line each, and the delivery log
  // sits beside the webhooks, not below everything.
  const lines = (selector) => row.locator(selector).evaluate((e) => e.getClientRects().length);
  const lineHeight = (selector) => row.locator(selector).evaluate((e) => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight || '20'));
  assert.equal(await lines('.status > span'), 1);
  assert.ok((await lineHeight('.status > span')) < 1.5, 'the status word wraps');
  assert.ok((await lineHeight('code.url')) < 1.5, 'the URL wraps');
  const table = await page.locator('#webhooks').boundingBox();
  const log = await page.locator('#deliveries-title').boundingBox();
  assert.ok(log.x > table.x + table.width, `the delivery log (x=${log.x}) is not beside the table (right edge ${table.x + table.width})`);
  assert.ok(log.y < 900, 'the delivery log starts below the first screen');
  await page.screenshot({ path: join(ARTIFACTS, 'disabled.png'), fullPage: true });
  await row.getByRole('button', { name: 'Enable' }).click();
  await row.locator('.status .ok').waitFor();
  const webhook = await apiCall('GET', `/v1/webhooks/${created.id}`);
  assert.equal(webhook.enabled, true);
  // Recover sends the failed delivery again (here it fails again: the port is still closed).
  await row.getByRole('button', { name: 'Recover failed' }).click();
  await page.waitForSelector('#webhooks-result .ok');
  assert.match(await page.textContent('#webhooks-result'), /Queued 1 failed delivery/);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: join(ARTIFACTS, 'phone.png'), fullPage: true });
});

test('an endpoint that keeps failing shows its open circuit in the dashboard', async (t) => {
  if (skipWithoutChromium(t)) return;
  const closed = await freePort();
  const created = await apiCall('POST', '/v1/webhooks', { url: `http://127.0.0.1:${closed}/down`, events: ['billing.*'], secret: SECRET });
  for (let n = 0; n < 3; n++) await apiCall('POST', '/v1/events', { type: 'billing.payment.failed', data: { payment_id: `pay_${n}`, amount: 1999, currency: 'EUR', reason: 'card_declined', n } });
  await until('three failed attempts in a row', async () => (await apiCall('GET', `/v1/webhooks/${created.id}`)).health.consecutive_failures >= 3);
  await open(`#key=${key}`);
  await page.waitForSelector('#key-status .ok');
  const note = page.locator(`tr[data-webhook="${created.id}"] .health`);
  await note.waitFor();
  assert.equal(await note.getAttribute('data-circuit'), 'open');
  assert.match(await note.textContent(), /\d+ failed attempts in a row: sending one at a time until one succeeds/);
});

/** Chromium logs the refused credential check as a console error: here it is the point. */
function expectRefusal() {
  const refusal = /status of 401 \(Unauthorized\) \(http:\/\/127\.0\.0\.1:\d+\/v1\/credential\)/;
  assert.ok(problems.some((p) => refusal.test(p)), 'the credential was not refused');
  problems = problems.filter((p) => !refusal.test(p));
}

/** Calls the API with the platform key (as the provider's backend). */
async function platformCall(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${server.platform}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body && JSON.stringify(body),
  });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

/** Calls an account route with the platform key, acting for `account`. */
async function platformCallFor(account, method, path) {
  const response = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${server.platform}`, 'cdhooks-account': account },
  });
  return { status: response.status, body: await response.json() };
}

/** A customer account made by the platform, with one webhook; returns its id, key and webhook. */
async function customer(email) {
  const { body: opened } = await platformCall('POST', '/v1/accounts', { email, external_id: `ext-${email}` });
  const response = await fetch(`${base}/v1/webhooks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${opened.api_key.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `http://127.0.0.1:9/${email}`, events: ['*'], secret: SECRET }),
  });
  return { id: opened.account.id, key: opened.api_key.key, webhook: await response.json() };
}

test('a portal link opens the dashboard for that account only, and stops at once when revoked', async (t) => {
  if (skipWithoutChromium(t)) return;
  const mine = await customer('portal@example.com');
  const other = await customer('other@example.com');
  const { body: session } = await platformCall('POST', `/v1/accounts/${mine.id}/portal-sessions`, {});
  assert.ok(session.url.startsWith(`${base}/#session=cdhs_`), session.url);
  await page.goto(session.url);
  await page.waitForSelector('html[data-ready="true"]');
  await page.waitForSelector('#key-status .ok');
  assert.equal(await visibleView(), 'view-dashboard');
  assert.ok(!page.url().includes('cdhs_'), `the token stays in the address: ${page.url()}`);
  assert.match(await page.textContent('#connection'), /portal@example\.com/);
  await page.waitForSelector(`tr[data-webhook="${mine.webhook.id}"]`);
  assert.equal(await page.locator(`tr[data-webhook="${other.webhook.id}"]`).count(), 0);
  assert.ok(!(await page.content()).includes(other.webhook.id), 'another account shows through');
  // It manages webhooks and sends test events, but offers no real emission and no key form.
  assert.equal(await page.isVisible('#create-details'), true);
  assert.equal(await page.isVisible('#key-form'), false);
  assert.equal(await page.locator('#emit-target option[value=""]').count(), 0);
  await page.click('#emit-form button[type="submit"]');
  await page.waitForSelector('#emit-result .ok');
  assert.match(await page.textContent('#emit-result'), /Accepted evt_test_/);
  // It edits the webhook (URL, events, description) in the register form.
  const row = page.locator(`tr[data-webhook="${mine.webhook.id}"]`);
  await row.getByRole('button', { name: 'Edit' }).click();
  assert.equal(await page.inputValue('#create-url'), mine.webhook.url);
  assert.equal(await page.isVisible('#create-secret'), false, 'editing offers no secret field');
  await page.fill('#create-url', 'http://127.0.0.1:9/edited');
  await page.fill('#create-description', 'edited in the portal');
  await page.click('#create-submit');
  await page.waitForSelector('#create-result .ok');
  await page.waitForSelector(`tr[data-webhook="${mine.webhook.id}"] code.url[title="http://127.0.0.1:9/edited"]`);
  const { body: edited } = await platformCallFor(mine.id, 'GET', `/v1/webhooks/${mine.webhook.id}`);
  assert.equal(edited.url, 'http://127.0.0.1:9/edited');
  assert.equal(edited.description, 'edited in the portal');
  // It rotates the webhook's secret, with the old one signing through the grace period.
  await page.locator(`tr[data-webhook="${mine.webhook.id}"]`).getByRole('button', { name: 'Rotate secret' }).click();
  await page.waitForSelector('#webhooks-result .ok code.secret');
  const rotated = await page.textContent('#webhooks-result code.secret');
  assert.ok(rotated.startsWith('whsec_') && rotated !== SECRET, rotated);
  assert.match(await page.textContent('#webhooks-result'), /old one too until/);
  await page.screenshot({ path: join(ARTIFACTS, 'portal.png'), fullPage: true });

  const revoked = await platformCall('DELETE', `/v1/accounts/${mine.id}/portal-sessions/${session.id}`);
  assert.equal(revoked.status, 204);
  await page.reload();
  await page.waitForSelector('html[data-ready="true"]');
  await page.waitForSelector('#key-status .bad');
  assert.match(await page.textContent('#key-status'), /expired or was revoked/);
  assert.equal(await page.isVisible('#dashboard-body'), false, 'the account stays on screen');
  assert.equal(await page.isVisible('#create-details'), false);
  expectRefusal();
});

test('an expired portal link opens nothing and says so', async (t) => {
  if (skipWithoutChromium(t)) return;
  const mine = await customer('expired@example.com');
  // A session that ended a minute ago, as the store holds it (an hour's wait is no test).
  const token = `cdhs_${randomBytes(32).toString('base64url')}`;
  const hash = createHash('sha256').update(token).digest('hex');
  const now = Date.now();
  execFileSync('python3', ['-c', `
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
db.execute("INSERT INTO portal_sessions (id, account_id, token_hash, read_only, created_at, expires_at) VALUES (?, ?, ?, 0, ?, ?)",
           ("ps_" + "0" * 32, sys.argv[2], sys.argv[3], int(sys.argv[4]) - 3660000, int(sys.argv[4]) - 60000))
db.commit()
`, join(server.dir, 'cdhooks.sqlite3'), mine.id, hash, String(now)]);
  await page.goto(`${base}/#session=${token}`);
  await page.waitForSelector('html[data-ready="true"]');
  await page.waitForSelector('#key-status .bad');
  assert.match(await page.textContent('#key-status'), /expired or was revoked/);
  assert.equal(await page.isVisible('#dashboard-body'), false);
  assert.ok(!page.url().includes('cdhs_'));
  expectRefusal();
});

test('a read-only portal link shows the account without a button that would change it', async (t) => {
  if (skipWithoutChromium(t)) return;
  const mine = await customer('viewer@example.com');
  const { body: session } = await platformCall('POST', `/v1/accounts/${mine.id}/portal-sessions`, { read_only: true });
  await page.goto(session.url);
  await page.waitForSelector('html[data-ready="true"]');
  const row = page.locator(`tr[data-webhook="${mine.webhook.id}"]`);
  await row.waitFor();
  assert.match(await page.textContent('#key-status'), /read-only/);
  assert.equal(await row.getByRole('button', { name: 'Deliveries' }).isVisible(), true);
  for (const name of ['Edit', 'Disable', 'Delete', 'Recover failed', 'Rotate secret']) {
    assert.equal(await row.getByRole('button', { name }).isVisible(), false, `${name} is offered`);
  }
  assert.equal(await page.isVisible('#create-details'), false);
  assert.equal(await page.isVisible('#emit-form'), false);
});

test('without a valid key nothing of an account shows, and a platform key finds an account to act for', async (t) => {
  if (skipWithoutChromium(t)) return;
  const mine = await customer('found@example.com');
  const healthy = await customer('healthy@example.com');
  // Its endpoint is down: two failed attempts disable the webhook.
  await platformCall('POST', `/v1/accounts/${mine.id}/events`, { type: 'server.error', data: { server_id: 'srv_1', name: 'web-1', status: 'error', error: 'disk_full', message: 'Root volume is 100% full' } });
  for (let i = 0; ; i++) {
    const { body } = await platformCall('GET', '/v1/accounts?needs_attention=true');
    if (body.data.some((a) => a.id === mine.id)) break;
    assert.ok(i < 200, 'the webhook was never disabled');
    await new Promise((r) => setTimeout(r, 50));
  }
  await open('#dashboard');
  await page.fill('#api-key', 'cdh_not_a_key');
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('#key-status .bad');
  for (const selector of ['#dashboard-body', '#webhooks', '#create-details', '#emit-form', '#operator']) {
    assert.equal(await page.isVisible(selector), false, `${selector} shows without a key`);
  }
  await page.fill('#api-key', server.platform);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('#operator:not([hidden])');
  assert.equal(await page.isVisible('#dashboard-body'), false, 'no account is open yet');
  await page.waitForSelector(`#attention li[data-account="${mine.id}"]`);
  assert.match(await page.textContent(`#attention li[data-account="${mine.id}"]`), /1 disabled webhook/);
  assert.equal(await page.locator(`#attention li[data-account="${healthy.id}"]`).count(), 0);
  await page.fill('#find-query', 'ext-found@example.com');
  await page.click('#find-form button[type="submit"]');
  await page.locator(`#find-results li[data-account="${mine.id}"]`).getByRole('button', { name: 'Open' }).click();
  await page.waitForSelector(`tr[data-webhook="${mine.webhook.id}"]`);
  assert.match(await page.textContent('#acting-for'), /found@example\.com/);
  // The operator may emit real events for the account.
  assert.equal(await page.locator('#emit-target option[value=""]').count(), 1);
  await page.click('#acting-leave');
  await page.waitForSelector('#operator:not([hidden])');
  assert.equal(await page.isVisible('#dashboard-body'), false);
  expectRefusal();
});

test('the catalog shows schemas and deprecation; a filter is tried on stored events and saved', async (t) => {
  if (skipWithoutChromium(t)) return;
  const platform = (method, path, body) =>
    fetch(base + path, { method, headers: { authorization: `Bearer ${server.platform}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) }).then((r) => r.json());
  await platform('POST', '/v1/event-types', { name: 'dns.zone.updated', description: 'A DNS zone changed', example: { zone: 'example.com', serial: 7 } });
  const deprecated = await platform('PATCH', '/v1/event-types/dns.zone.updated', { deprecated: true });
  assert.equal(deprecated.deprecated, true);
  const hook = await apiCall('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/filtered', events: ['server.*'], secret: SECRET });
  const started = (server_id) => ({ type: 'server.started', data: { server_id, name: 'web', status: 'running', ip: '192.0.2.1' } });
  const production = (await apiCall('POST', '/v1/events', started('srv_1'))).event.id;
  const staging = (await apiCall('POST', '/v1/events', started('srv_3'))).event.id;

  await open(`#key=${key}`);
  await page.waitForSelector('#key-status .ok');
  await tab('events');
  const dns = page.locator('#event-types li[data-type="dns.zone.updated"]');
  assert.equal(await dns.getAttribute('data-deprecated'), 'true');
  assert.match(await dns.locator('h3').textContent(), /deprecated/);
  await dns.locator('details.schema summary').click();
  assert.match(await dns.locator('details.schema summary').textContent(), /version 1/);
  assert.match(await dns.locator('details.schema pre').textContent(), /"required"/);

  await tab('dashboard');
  // Still offered, and said to be deprecated.
  assert.match(await page.textContent('label[for="event-dns-zone-updated"]'), /dns\.zone\.updated \(deprecated\)/);
  assert.equal(await page.textContent('label[for="event-dns--"]'), 'dns.*', 'the group dns.* is offered');
  const row = page.locator(`tr[data-webhook="${hook.id}"]`);
  await row.getByRole('button', { name: 'Edit' }).click();
  await page.fill('#create-filter', '{"data.server_id": "srv_1"}');
  await page.fill('#create-match-event', staging);
  await page.click('#create-match-check');
  await page.waitForSelector('#create-match-result .bad');
  assert.match(await page.textContent('#create-match-result'), /^No/);
  assert.equal(await page.getAttribute('#create-match-result li', 'data-holds'), 'false');
  assert.match(await page.textContent('#create-match-result li'), /has "srv_3"/);
  await page.fill('#create-match-event', production);
  await page.click('#create-match-check');
  await page.waitForSelector('#create-match-result .ok');
  assert.match(await page.textContent('#create-match-result'), /^Yes/);
  // Nothing is saved until Save.
  assert.equal((await apiCall('GET', `/v1/webhooks/${hook.id}`)).filter, null);
  // A field no subscribed schema has is refused with its reason.
  await page.fill('#create-filter', '{"data.amount": 1999}');
  await page.click('#create-submit');
  await page.waitForSelector('#create-result .bad');
  assert.match(await page.textContent('#create-result'), /unknown_filter_field/);
  const refusal = /status of 422 \(Unprocessable Entity\) \(http:\/\/127\.0\.0\.1:\d+\/v1\/webhooks\/wh_/;
  assert.ok(problems.some((p) => refusal.test(p)), 'the filter was not refused by the server');
  problems = problems.filter((p) => !refusal.test(p));
  await page.fill('#create-filter', '{"data.server_id": ["srv_1", "srv_2"]}');
  await page.click('#create-submit');
  await page.waitForSelector('#create-result .ok');
  await page.waitForSelector(`tr[data-webhook="${hook.id}"] .filter`);
  assert.equal(await row.locator('.filter').textContent(), 'only if data.server_id is srv_1 or srv_2');
  assert.deepEqual((await apiCall('GET', `/v1/webhooks/${hook.id}`)).filter, { 'data.server_id': ['srv_1', 'srv_2'] });
  await page.screenshot({ path: join(ARTIFACTS, 'filter.png'), fullPage: true });
});
