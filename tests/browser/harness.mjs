// What the browser tests share: `outpost master` processes serving the
// web UI, browser profiles (each its own device), screenshots, and the
// steps a person takes on a page (pair, open a doctype, pick a link).
//
// The engine is OUTPOST_BROWSER: `chromium` (the default; Debian's
// Chromium driven by playwright-core) or `firefox` (Debian's Firefox ESR
// driven by puppeteer-core over WebDriver BiDi, behind the same subset of
// playwright's API: firefox.mjs). A test gets the same objects either way.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { cleanupsAfterAll, freePort, waitFor } from '../desktop/webdriver.mjs';
import { launchFirefox } from './firefox.mjs';

export const CLI = resolve(process.env.OUTPOST_BIN || 'target/debug/outpost');
export const UI = resolve(process.env.OUTPOST_UI || 'ui/dist');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = resolve(process.env.SHOTS_DIR || 'docs/screenshots');
mkdirSync(SHOTS, { recursive: true });
export const ENGINE = process.env.OUTPOST_BROWSER || 'chromium';
if (!['chromium', 'firefox'].includes(ENGINE)) {
  throw new Error(`OUTPOST_BROWSER is "${ENGINE}": say chromium or firefox`);
}
export const FIREFOX_ENGINE = ENGINE === 'firefox';
/** Firefox's pictures are named apart (`ff-...`), so a Firefox run never
 * replaces the Chromium screenshots the README shows. */
const SHOT_PREFIX = FIREFOX_ENGINE ? 'ff-' : '';
const VIEWPORT = { width: 1280, height: 760 };
/** The launch flags NOTES.md gives for this closed network, as root. */
export const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const { cleanups, tempDir } = cleanupsAfterAll('outpost-browser');

/** Every office the tests start has a first manager (a master refuses an
 * office without users): this one, unless a test names another. */
export const MANAGER = { user: 'manager', password: "the browser tests' manager" };
let managerFile = null;

/** `--admin-password-file FILE`: makes MANAGER on a new office. */
export function firstManagerArgs() {
  if (!managerFile) {
    managerFile = join(tempDir('manager'), 'password');
    writeFileSync(managerFile, `${MANAGER.password}\n`, { mode: 0o600 });
  }
  return ['--admin-password-file', managerFile];
}

/** `outpost ...` (optionally inside a network namespace); its slave calls
 * sign in as MANAGER unless they say `--user`. */
export function cli(args, { netns } = {}) {
  const [cmd, argv] = netns ? ['ip', ['netns', 'exec', netns, CLI, ...args]] : [CLI, args];
  const env = { ...process.env, OUTPOST_USER: MANAGER.user, OUTPOST_PASSWORD: MANAGER.password };
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60000, env });
  let json = null;
  try {
    json = JSON.parse(r.stdout.trim().split('\n')[0]);
  } catch {
    // not JSON
  }
  return { code: r.status, out: r.stdout, err: r.stderr, json };
}

/** An `outpost master` serving the web UI; resolves with its addresses. */
export async function startMaster(name, { data = tempDir('master'), port, listen = '127.0.0.1', netns, extra = [], command } = {}) {
  port ??= await freePort();
  const head = command ?? ['master', '--name', name];
  // A promoted standby has the office's users already (its copy holds them).
  const first = head[0] === 'master' && !extra.includes('--admin-password-file') ? firstManagerArgs() : [];
  const args = [...head, '--data', data, '--port', String(port), '--listen', listen, '--no-mdns', '--ui', UI, ...first, ...extra];
  const proc = netns ? spawn('ip', ['netns', 'exec', netns, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (err += d));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  };
  cleanups.push(stop);
  const browser = await waitFor('the master to print its browser address', async () => {
    if (proc.exitCode !== null) throw Object.assign(new Error(`the master exited: ${err}`), { fatal: true });
    return out.match(/^Browser address.*: (http:\/\/\S+)$/m)?.[1];
  });
  const url = out.match(/^outpost:\/\/\S+$/m)[0];
  const code = out.match(/^Pairing code: (\S+)$/m)[1];
  const fingerprint = out.match(/^Device id: +([0-9a-f]{64})$/m)[1];
  return { data, port, url, code, browser, fingerprint, proc, stop, log: () => err, out: () => out };
}

/** Another PC (`sbData`) pairs with master `m`, is made its standby and
 * follows it (`outpost standby`, killed after the test); its device id. */
export async function startStandby(m, sbData) {
  assert.equal(cli(['db', '--data', sbData, '--connect', m.url, 'count', 'Party']).code, 0);
  const sbId = cli(['id', '--data', sbData]).out.trim();
  const made = cli(['devices', '--data', m.data, 'standby', sbId]);
  assert.equal(made.code, 0, made.err);
  const plain = m.url.replace(/&code=[^&]*/, '');
  const standby = spawn(CLI, ['standby', '--data', sbData, '--connect', plain], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  standby.stdout.on('data', (d) => (out += d));
  cleanups.push(async () => {
    if (standby.exitCode === null && standby.signalCode === null) standby.kill('SIGKILL');
  });
  await waitFor('the standby to follow', async () => out.includes('Following'));
  return sbId;
}

/**
 * A browser (the OUTPOST_BROWSER engine) with a profile of its own (a
 * device of its own); `profile` opens an earlier one again (the same
 * device after a restart). `hosts` maps host names to addresses (the
 * browser's resolver, not the OS's); `netns` runs the browser in that
 * network namespace (another host on the LAN).
 */
export async function openBrowser(tag, { profile = tempDir(`profile-${tag}`), hosts = {}, netns = null } = {}) {
  const ctx = FIREFOX_ENGINE
    ? await launchFirefox({ profile, dir: tempDir(`firefox-${tag}`), viewport: VIEWPORT, hosts, netns })
    : await launchChromium(tag, { profile, hosts, netns });
  cleanups.push(() => ctx.close());
  // Counts the peer connections the page makes (a refused device makes
  // none) and keeps the ICE candidates it gathers.
  await ctx.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    window.__peerConnections = 0;
    window.__pcs = [];
    window.__candidates = [];
    window.RTCPeerConnection = class extends Native {
      constructor(...a) {
        super(...a);
        window.__peerConnections++;
        window.__pcs.push(this);
        this.addEventListener('icecandidate', (ev) => ev.candidate?.candidate && window.__candidates.push(ev.candidate.candidate));
      }
    };
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  openPages.push(page);
  return { ctx, page, errors, profile };
}

function launchChromium(tag, { profile, hosts, netns }) {
  let executablePath = CHROMIUM;
  if (netns) {
    executablePath = join(tempDir(`ns-${tag}`), 'chromium-in-ns');
    writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${netns} ${CHROMIUM} "$@"\n`);
    chmodSync(executablePath, 0o755);
  }
  const rules = Object.entries(hosts).map(([name, ip]) => `MAP ${name} ${ip}`);
  return chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [...FLAGS, ...(rules.length ? [`--host-resolver-rules=${rules.join(', ')}`] : [])],
    viewport: VIEWPORT,
  });
}

export const openPages = [];

/** On failure, every open page is photographed (SHOTS_DIR/browser-failed-N.png,
 * ff-browser-failed-N.png in Firefox). */
export function withShots(body) {
  return async () => {
    try {
      await body();
    } catch (e) {
      for (const [i, p] of openPages.entries()) {
        await p.screenshot({ path: join(SHOTS, `${SHOT_PREFIX}browser-failed-${i + 1}.png`) }).catch(() => {});
      }
      throw e;
    }
  };
}

export const tid = (id) => `[data-testid="${id}"]`;
export const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${SHOT_PREFIX}${name}.png`) });

export async function pair(page, code, name) {
  await page.click(tid('nav-connect'));
  await page.fill(tid('connect-code'), code);
  if (name) await page.fill(tid('device-name'), name);
  await page.click(tid('connect-submit'));
}

/** Signs the page in: after pairing, Records shows the sign-in screen
 * until someone does. */
export async function signIn(page, { user, password } = MANAGER) {
  await page.click(tid('nav-records'));
  await page.fill(tid('signin-user'), user);
  await page.fill(tid('signin-password'), password);
  await page.click(tid('signin-submit'));
  await page.locator(tid('status-user'), { hasText: `${user} (` }).waitFor();
}

export async function linkState(page) {
  return page.getAttribute(tid('status-link'), 'data-state');
}

export async function openDoctype(page, doctype) {
  await page.click(tid('nav-records'));
  await page.click(tid(`doctype-${doctype}`));
  await page.waitForSelector(tid('list'));
}

/** Picks `title` in a link input the way a keyboard user does. */
export async function pickLink(page, input, title) {
  await page.fill(input, title.slice(0, 3));
  const option = page.locator(tid('link-option'), { hasText: title }).first();
  await option.waitFor();
  await option.click();
  await waitFor(`the link to show "${title}"`, async () => (await page.inputValue(input)) === title);
}

export function row(page, text) {
  return page.locator(tid('row'), { hasText: text }).first();
}


/** A password file (the CLI never takes a password on its command line). */
export function passwordFile(text) {
  const f = join(tempDir('pw'), 'password');
  writeFileSync(f, `${text}\n`, { mode: 0o600 });
  return f;
}

/** This PC's date `days` ago, `YYYY-MM-DD` (local, as a page counts "today"). */
export function daysAgo(days) {
  const d = new Date();
  d.setDate(d.getDate() - days);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
