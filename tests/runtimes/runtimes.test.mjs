// The package's smoke test in every runtime it promises: Bun, Deno, workerd (with the .wasm
// as a module import) and headless Chromium loading the browser build from a loopback page.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { test } from 'node:test';
import { freePort, root } from '../support.mjs';

const bin = (name) => join(root, 'node_modules', '.bin', name);
const CHROMIUM = '/usr/bin/chromium';

function parseResult(output) {
  const line = output.toString().trim().split('\n').pop();
  return JSON.parse(line);
}

function assertSmoke(result) {
  assert.deepEqual(result.failures, [], `${result.runtime}: ${result.failures.join(', ')}`);
  assert.equal(result.ok, true);
}

test('Bun', () => {
  assertSmoke(parseResult(execFileSync(bin('bun'), [join(root, 'tests/runtimes/bun.mjs')], { cwd: root })));
});

test('Deno', () => {
  const out = execFileSync(bin('deno'), ['run', '--quiet', '--allow-read', '--allow-env', join(root, 'tests/runtimes/deno.mjs')], {
    cwd: root,
    env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
  });
  assertSmoke(parseResult(out));
});

test('workerd, with the wasm as a module import', async () => {
  const port = await freePort();
  const child = spawn(bin('workerd'), ['serve', join(root, 'tests/runtimes/workerd.capnp'), '--socket-addr', `http=127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  try {
    let result;
    for (let i = 0; i < 100 && !result; i++) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/`);
        result = await response.json();
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.ok(result, `workerd did not answer: ${log}`);
    assertSmoke(result);
  } finally {
    child.kill();
  }
});

const TYPES = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };

/** Serves pkg/ and tests/runtimes/ of the repo on loopback. */
function serveRepo() {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const allowed = path.startsWith('/pkg/') || path.startsWith('/tests/runtimes/');
    const file = join(root, path);
    if (!allowed || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('headless Chromium loading the browser build', async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') assert.fail(`${CHROMIUM} is missing; .ci/run installs Debian's chromium`);
    t.skip(`${CHROMIUM} not installed (apt-get install chromium); skipped outside CI`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const server = await serveRepo();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/tests/runtimes/page.html`);
    await page.waitForFunction(() => window.smokeResult !== undefined, null, { timeout: 15000 }).catch(() => {});
    assert.deepEqual(errors, []);
    assertSmoke(await page.evaluate(() => window.smokeResult));
  } finally {
    await browser.close();
    server.close();
  }
});
