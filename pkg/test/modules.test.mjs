// The package loads as CommonJS and as an ES module in Node with no init step, and
// `npm pack` gives a tarball that installs and works on its own.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as esm from 'cdhooks';

const require = createRequire(import.meta.url);

test('require and import give the same working API', () => {
  const cjs = require('cdhooks');
  for (const name of ['verifyWebhook', 'signWebhook', 'verifyRequest', 'diagnoseSecret', 'isTestEvent', 'Webhook', 'WebhookVerificationError']) {
    assert.equal(typeof cjs[name], 'function', name);
    assert.equal(esm[name], cjs[name], name);
  }
  const sig = cjs.signWebhook('{}', 'your_webhook_secret');
  assert.equal(esm.verifyWebhook('{}', sig, 'your_webhook_secret'), true);
});

test('the verification .wasm every receiver loads is at most 20,000 bytes; the full one 50,000', () => {
  for (const target of ['node', 'web']) {
    const size = (name) => statSync(new URL(`../gen/${target}/${name}_bg.wasm`, import.meta.url)).size;
    assert.ok(size('cdhooks_wasm') <= 20_000, `gen/${target}/cdhooks_wasm_bg.wasm is ${size('cdhooks_wasm')} bytes`);
    assert.ok(size('cdhooks_full') <= 50_000, `gen/${target}/cdhooks_full_bg.wasm is ${size('cdhooks_full')} bytes`);
  }
});

test('npm pack gives a tarball that installs offline and runs in CJS and ESM', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdhooks-pack-'));
  try {
    const pkgDir = new URL('..', import.meta.url).pathname;
    execFileSync('npm', ['pack', pkgDir, '--pack-destination', dir, '--silent'], { stdio: 'pipe' });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'no tarball');
    writeFileSync(join(dir, 'package.json'), '{"name":"consumer","private":true}');
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', join(dir, tarball)], { cwd: dir, stdio: 'pipe' });
    const script = "const { verifyWebhook, signWebhook } = require('cdhooks'); console.log(verifyWebhook('x', signWebhook('x', 'k'), 'k'))";
    assert.equal(execFileSync('node', ['-e', script], { cwd: dir }).toString().trim(), 'true');
    const esmScript = "import { verifyWebhook, signWebhook } from 'cdhooks'; console.log(verifyWebhook('x', signWebhook('x', 'k'), 'k'))";
    assert.equal(execFileSync('node', ['--input-type=module', '-e', esmScript], { cwd: dir }).toString().trim(), 'true');
    // What the npm page and TypeScript users need is in it: the README, ESM and CJS types.
    const installed = join(dir, 'node_modules', 'cdhooks');
    for (const file of ['README.md', 'index.d.ts', 'events.d.ts', 'gen/index.d.cts', 'gen/events.d.cts']) {
      assert.ok(statSync(join(installed, file)).size > 0, file);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
