#!/usr/bin/env node
// The cdhooks command line: `cdhooks types --url <server>/v1/event-types [--out file]` writes
// TypeScript declarations for the event types a running server's catalog holds.

import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { render } from './typescript.mjs';

const USAGE = `Usage: cdhooks types --url <https://…/v1/event-types> [--out events.d.ts]

Writes TypeScript declarations (one interface per event type's data, and the union
CdhooksEvent) for the event types the server's catalog holds; to stdout without --out.`;

async function types(args) {
  const { values } = parseArgs({ args, options: { url: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return console.log(USAGE);
  if (!values.url) throw new Error(`--url is required\n\n${USAGE}`);
  const response = await fetch(values.url, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`${values.url} answered ${response.status}`);
  const body = await response.json();
  if (!Array.isArray(body?.data)) throw new Error(`${values.url} is not an event catalog (no \`data\` list)`);
  const declarations = render(body.data, values.url);
  if (values.out) writeFileSync(values.out, declarations);
  else process.stdout.write(declarations);
}

const [command, ...rest] = process.argv.slice(2);
try {
  if (command === 'types') await types(rest);
  else {
    console.error(USAGE);
    process.exitCode = command === undefined || command === '--help' ? 0 : 2;
  }
} catch (error) {
  console.error(`cdhooks: ${error.message}`);
  process.exitCode = 1;
}
