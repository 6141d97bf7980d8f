// What the window tests share: the Outpost window (the Tauri build) under
// Xvfb through tauri-driver + WebKitWebDriver, the `outpost` CLI as masters
// and slaves (separate processes, real WebRTC on loopback), each with its
// own data folder, and screenshots into SHOTS_DIR (default
// docs/screenshots), with every open window photographed when a test fails.

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Driver, cleanupsAfterAll, freePort, waitFor } from './webdriver.mjs';

export const APP = resolve(process.env.OUTPOST_DESKTOP_BIN || 'target/release/outpost-desktop');
export const CLI = resolve(process.env.OUTPOST_BIN || 'target/debug/outpost');
export const SHOTS = resolve(process.env.SHOTS_DIR || 'docs/screenshots');
mkdirSync(SHOTS, { recursive: true });

export const { cleanups, tempDir } = cleanupsAfterAll('outpost-e2e');

/** Every office the tests start has a first manager (a master never runs
 * an office without users): this one, unless a test names another. */
export const MANAGER = { user: 'manager', password: "the window tests' manager" };
let managerFile = null;

/** `--admin-password-file FILE`: makes MANAGER on a new office. */
export function firstManagerArgs() {
  if (!managerFile) {
    managerFile = join(tempDir('manager'), 'password');
    writeFileSync(managerFile, `${MANAGER.password}\n`, { mode: 0o600 });
  }
  return ['--admin-password-file', managerFile];
}

/** `outpost ...`; returns {code, out, err, json}. Its slave calls sign in
 * as MANAGER unless they say `--user`. */
export function cli(args, env = {}) {
  const signedIn = { OUTPOST_USER: MANAGER.user, OUTPOST_PASSWORD: MANAGER.password };
  const r = spawnSync(CLI, args, { encoding: 'utf8', env: { ...process.env, ...signedIn, ...env }, timeout: 60000 });
  let json = null;
  try {
    json = JSON.parse(r.stdout.trim().split('\n')[0]);
  } catch {
    // not JSON
  }
  return { code: r.status, out: r.stdout, err: r.stderr, json };
}

/** A headless `outpost master` on loopback; resolves with its pairing URL.
 * `promote`: a standby's folder, promoted to run it (`outpost promote`);
 * default: a new office. */
export async function cliMaster(name, { mdns = false, promote = null } = {}) {
  const data = promote || tempDir('cli-master');
  const port = await freePort();
  // Multicast does not run on loopback: a master found by name listens on
  // the LAN interfaces (and its URL names its LAN address). A promoted
  // standby's copy holds the office's users already.
  const args = promote
    ? ['promote', '--data', data, '--port', String(port)]
    : ['master', '--data', data, '--name', name, '--port', String(port), ...firstManagerArgs()];
  if (!mdns) args.push('--listen', '127.0.0.1', '--no-mdns');
  const proc = spawn(CLI, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  cleanups.push(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  });
  const url = await waitFor('the master to print its pairing URL', async () => {
    const m = out.match(/^outpost:\/\/\S+$/m);
    return m && m[0];
  });
  return { data, port, url, proc };
}

/** A private D-Bus session bus; resolves with its address. */
export async function privateBus() {
  const proc = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => proc.kill('SIGTERM'));
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  return waitFor('dbus-daemon to print its address', async () => out.includes('\n') && out.trim());
}

/** An Outpost window with its own data folder (and its own D-Bus session,
 * so two windows are two PCs, not one app's second copy). */
export async function openWindow(tag, extraEnv = {}) {
  const data = tempDir(`win-${tag}`);
  const bus = await privateBus();
  const env = { OUTPOST_DATA: data, OUTPOST_NO_MDNS: '1', DBUS_SESSION_BUS_ADDRESS: bus, ...extraEnv };
  const driver = new Driver(env);
  await driver.start();
  cleanups.push(() => driver.stop());
  const s = await driver.session(APP);
  cleanups.push(() => s.close());
  await s.$('[data-testid="status-bar"]');
  openSessions.push(s);
  return { s, data, driver, env };
}

export const openSessions = [];

/** Runs a test body; on failure, every open window is photographed
 * (SHOTS_DIR/failed-N.png) before the error goes on. */
export function withShots(body) {
  return async () => {
    try {
      await body();
    } catch (e) {
      for (const [i, s] of openSessions.entries()) {
        try {
          await s.screenshot(join(SHOTS, `failed-${i + 1}.png`));
        } catch {
          // the window may be gone
        }
      }
      throw e;
    }
  };
}

export const shot = (s, name) => s.screenshot(join(SHOTS, `${name}.png`));

/** Where the element `css` is in a screenshot of the window (in its
 * pixels), once scrolled into the middle: the part of a picture of the
 * window a camera would aim at. */
export function pictureRect(s, css) {
  return s.execute(
    'const e = document.querySelector(arguments[0]); e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect(), k = devicePixelRatio; return {x: r.x * k, y: r.y * k, width: r.width * k, height: r.height * k};',
    [css],
  );
}
export const sel = (testid) => `[data-testid="${testid}"]`;

/** Picks `title` in the link input `inputCss` the way a keyboard user
 * does: type the start, wait for the suggestion, arrow to it, Enter. */
export async function pickLink(s, inputCss, title) {
  const input = await s.fill(inputCss, title.slice(0, 3));
  const index = await waitFor(`a suggestion "${title}"`, async () => {
    const texts = await s.execute('return [...document.querySelectorAll("[data-testid=link-option]")].map(e => e.textContent.trim())');
    const i = texts.findIndex((t) => t.includes(title));
    return i >= 0 ? i + 1 : null;
  });
  for (let i = 1; i < index; i++) await input.type('\uE015'); // ArrowDown
  await input.type('\uE007'); // Enter
  await waitFor(`the link to show "${title}"`, async () => (await input.value()) === title);
}

/** Types a name and password on the sign-in screen and submits them. */
export async function fillSignIn(s, user, password) {
  await s.$(sel('signin-screen'));
  await s.fill(sel('signin-user'), user);
  await s.fill(sel('signin-password'), password);
  await s.click(sel('signin-submit'));
}

/** Signs the window in (Records shows the sign-in screen until someone
 * does) and waits for the status bar to name the person. */
export async function signIn(s, { user, password } = MANAGER) {
  await s.click(sel('nav-records'));
  await fillSignIn(s, user, password);
  await s.waitText(sel('status-user'), `${user} (`);
}

/** Settings → "This PC is the master" for an office without users: the
 * office's name and its first manager; the window then signs in as that
 * manager by itself. */
export async function makeMaster(s, office, { user, password } = MANAGER) {
  await s.click(sel('nav-settings'));
  await s.click(sel('master-toggle'));
  await s.fill(sel('office-name'), office);
  await s.$(sel('first-manager'));
  await s.fill(sel('manager-name'), user);
  await s.fill(sel('manager-password'), password);
  await s.fill(sel('manager-password2'), password);
  await s.click(sel('office-name-ok'));
  await s.waitText(sel('status-role'), (t) => /master/i.test(t));
  await s.waitText(sel('status-user'), `${user} (Manager)`);
}

export async function openDoctype(s, doctype) {
  await s.click(sel('nav-records'));
  await s.click(sel(`doctype-${doctype}`));
  await s.$(sel('list'));
}

export async function rowWithText(s, text) {
  return waitFor(`a row with "${text}"`, async () => {
    for (const r of await s.findAll(sel('row'))) {
      if ((await r.text()).includes(text)) return r;
    }
    return null;
  });
}

