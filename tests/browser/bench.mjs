// Browser slave against Rust slave, same master, same run: `get` round trip
// and connect time of a paired device. Prints a table with ratios; the
// numbers go to BENCHMARKS.md. Not a test: nothing here asserts.
//
//   cargo build --release -p outpost-cli -p outpost-bench --bin outpost --bin outpost-bench-slave
//   npm --prefix ui run build && node tests/browser/bench.mjs [ROUNDS] [CONNECTS]

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { freePort, waitFor } from '../desktop/webdriver.mjs';

const ROUNDS = Number(process.argv[2] ?? 2000);
const CONNECTS = Number(process.argv[3] ?? 20);
const CLI = resolve(process.env.OUTPOST_BIN || 'target/release/outpost');
const SLAVE = resolve(process.env.OUTPOST_BENCH_SLAVE || 'target/release/outpost-bench-slave');
const UI = resolve(process.env.OUTPOST_UI || 'ui/dist');
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const dir = mkdtempSync(join(tmpdir(), 'outpost-bench-browser-'));
const port = await freePort();
// Every office has users: both slaves sign in as its first manager (the
// Rust slave with its password, the page once, then resuming on reloads).
const MANAGER = { user: 'manager', password: 'the bench manager' };
writeFileSync(join(dir, 'manager'), `${MANAGER.password}\n`, { mode: 0o600 });
const master = spawn(CLI, ['master', '--data', join(dir, 'm'), '--name', 'Bench depot', '--port', String(port), '--listen', '127.0.0.1', '--no-mdns', '--ui', UI, '--admin-password-file', join(dir, 'manager')], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
master.stdout.on('data', (d) => (out += d));
const browserUrl = await waitFor('the master', async () => out.match(/^Browser address.*: (http:\/\/\S+)$/m)?.[1]);
const cli = (args) => spawnSync(CLI, args, { encoding: 'utf8' });
const newCode = () => {
  const o = cli(['pair', '--data', join(dir, 'm')]).stdout;
  return { url: o.match(/^outpost:\/\/\S+$/m)[0], code: o.match(/^Pairing code: (\S+)$/m)[1] };
};
const party = JSON.parse(cli(['db', '--data', join(dir, 'm'), 'insert', 'Party', JSON.stringify({ party_name: 'Bench Trading', city: 'Kashgar' })]).stdout);

try {
  // The Rust slave (a PC's Outpost) first, then Chromium, one after the other.
  const env = { ...process.env, OUTPOST_USER: MANAGER.user, OUTPOST_PASSWORD: MANAGER.password };
  const rust = JSON.parse(spawnSync(SLAVE, [newCode().url, 'Party', party.name, String(ROUNDS), String(CONNECTS)], { encoding: 'utf8', env }).stdout);

  const ctx = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: FLAGS });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  await page.goto(browserUrl);
  await page.click('[data-testid="nav-connect"]');
  await page.fill('[data-testid="connect-code"]', newCode().code);
  await page.click('[data-testid="connect-submit"]');
  await page.locator('[data-testid="connect-message"]', { hasText: 'Paired with' }).waitFor();
  await page.click('[data-testid="nav-records"]');
  await page.fill('[data-testid="signin-user"]', MANAGER.user);
  await page.fill('[data-testid="signin-password"]', MANAGER.password);
  await page.click('[data-testid="signin-submit"]');
  await page.locator('[data-testid="status-user"]').waitFor();

  // Connect: a reload of the page (the kept certificate, no code) until the
  // first answer; split into page load and the connection itself.
  const fromPage = [];
  const fromAttempt = [];
  for (let i = 0; i < CONNECTS; i++) {
    await page.reload();
    const t = await page.evaluate(async (name) => {
      const { api, transport } = globalThis.outpost;
      for (;;) {
        try {
          await api.get('Party', name);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 1));
        }
      }
      const done = performance.now();
      return { page: done, attempt: done - transport.timing.attempt };
    }, party.name);
    fromPage.push(t.page);
    fromAttempt.push(t.attempt);
  }
  const rtt = await page.evaluate(
    async ({ name, rounds }) => {
      const { api } = globalThis.outpost;
      for (let i = 0; i < 200; i++) await api.get('Party', name);
      const out = [];
      for (let i = 0; i < rounds; i++) {
        const t = performance.now();
        await api.get('Party', name);
        out.push(performance.now() - t);
      }
      return out;
    },
    { name: party.name, rounds: ROUNDS },
  );
  await ctx.close();

  const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.round((a.length - 1) * p)];
  const row = (what, b, r) => console.log(`${what.padEnd(58)}${`${b.toFixed(2)} ms`.padStart(12)}${`${r.toFixed(2)} ms`.padStart(12)}${`${(b / r).toFixed(2)}x`.padStart(9)}`);
  console.log(`loopback, ${ROUNDS} gets, ${CONNECTS} connects; Chromium ${spawnSync(process.env.CHROMIUM || '/usr/bin/chromium', ['--version'], { encoding: 'utf8' }).stdout.trim()}`);
  console.log(`${''.padEnd(58)}${'browser'.padStart(12)}${'Rust slave'.padStart(12)}${'ratio'.padStart(9)}`);
  row('get round trip p50', pct(rtt, 0.5), rust.get_ms_p50);
  row('get round trip p99', pct(rtt, 0.99), rust.get_ms_p99);
  row('connect, paired, attempt start to first answer (median)', pct(fromAttempt, 0.5), rust.connect_ms_median);
  row('connect, paired, page start to first answer (median)', pct(fromPage, 0.5), rust.connect_ms_median);
} finally {
  master.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
