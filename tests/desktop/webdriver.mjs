// A small W3C WebDriver client (fetch only) for driving the Outpost window
// through tauri-driver and WebKitWebDriver. Only what the tests use.

import { after } from 'node:test';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

/**
 * A port nobody listens on, for a process the test starts next. Taken
 * below the kernel's ephemeral range (`ip_local_port_range`), where
 * outgoing connections get their local ports: a port the kernel hands out
 * for port 0 could be taken by one of them (this test's own polls of
 * tauri-driver included) before the process it was meant for binds it,
 * and that process then fails with "address in use".
 */
export async function freePort() {
  const high = ephemeralLow();
  const low = 20000;
  for (let i = 0; i < 200 && high > low; i++) {
    const port = low + Math.floor(Math.random() * (high - low));
    // Never the same port twice in one test file, as the kernel's choice
    // was not: two taken back to back (tauri-driver's two) are both free
    // until their process binds them.
    if (!given.has(port) && (await canListen(port))) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${low} and ${high}`);
}

/** The ports `freePort` has handed out in this process. */
const given = new Set();

/** The first port of the kernel's ephemeral range. */
function ephemeralLow() {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 0 ? first : 32768;
  } catch {
    return 32768;
  }
}

function canListen(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * What a test file undoes once all its tests ran (last first, errors only
 * logged): `cleanups` takes functions, `tempDir(tag)` makes a folder named
 * `PREFIX-TAG-...` that is removed then.
 */
export function cleanupsAfterAll(prefix) {
  const cleanups = [];
  after(async () => {
    for (const f of cleanups.reverse()) {
      try {
        await f();
      } catch (e) {
        console.error('cleanup:', e.message);
      }
    }
  });
  const tempDir = (tag) => {
    const d = mkdtempSync(join(tmpdir(), `${prefix}-${tag}-`));
    cleanups.push(() => rmSync(d, { recursive: true, force: true }));
    return d;
  };
  return { cleanups, tempDir };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; fails with `what` after `ms`. */
export async function waitFor(what, fn, ms = 30000) {
  if (process.env.E2E_TRACE) console.error(`[e2e] waiting for ${what}`);
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (e.fatal) throw e;
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await sleep(150);
  }
}

/** One tauri-driver (and its WebKitWebDriver) with the given environment. */
export class Driver {
  constructor(env) {
    this.env = env;
  }

  async start() {
    this.port = await freePort();
    this.nativePort = await freePort();
    const bin = process.env.TAURI_DRIVER || 'tauri-driver';
    this.proc = spawn(bin, ['--port', String(this.port), '--native-port', String(this.nativePort)], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    this.base = `http://127.0.0.1:${this.port}`;
    let failed = null;
    this.proc.on('error', (e) => (failed = e));
    this.proc.on('exit', (code) => (failed = failed || new Error(`tauri-driver exited with ${code}`)));
    await waitFor('tauri-driver to listen', async () => {
      if (failed) throw Object.assign(failed, { fatal: true });
      const r = await fetch(`${this.base}/status`);
      return r.ok;
    });
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await new Promise((r) => this.proc.once('exit', r));
    }
  }

  /** Opens the app in a new session. */
  async session(application) {
    const res = await this.req('POST', '/session', {
      capabilities: { alwaysMatch: { 'tauri:options': { application } } },
    });
    return new Session(this, res.sessionId);
  }

  async req(method, path, body) {
    const r = await fetch(`${this.base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      // A driver call that hangs fails the test instead of holding CI.
      signal: AbortSignal.timeout(90000),
    });
    const text = await r.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${method} ${path}: HTTP ${r.status} ${text.slice(0, 200)}`);
    }
    if (!r.ok || (json.value && json.value.error)) {
      const v = json.value || {};
      const err = new Error(`${method} ${path}: ${v.error || r.status}: ${v.message || text.slice(0, 200)}`);
      err.wdError = v.error;
      throw err;
    }
    return json.value;
  }
}

export class Session {
  constructor(driver, id) {
    this.driver = driver;
    this.id = id;
  }

  req(method, path, body) {
    return this.driver.req(method, `/session/${this.id}${path}`, body);
  }

  async close() {
    try {
      await this.req('DELETE', '');
    } catch {
      // the app may be gone already
    }
  }

  /** The first element matching `css`, or null. */
  async find(css) {
    const list = await this.req('POST', '/elements', { using: 'css selector', value: css });
    return list.length ? new Element(this, list[0][ELEMENT]) : null;
  }

  async findAll(css) {
    const list = await this.req('POST', '/elements', { using: 'css selector', value: css });
    return list.map((e) => new Element(this, e[ELEMENT]));
  }

  /** Waits for a displayed element matching `css`. */
  async $(css, ms) {
    return waitFor(`element ${css}`, async () => {
      const el = await this.find(css);
      return el && (await el.displayed()) ? el : null;
    }, ms);
  }

  async click(css) {
    const el = await this.$(css);
    await el.click();
    return el;
  }

  /** Clears the field and types `text` into it. */
  async fill(css, text) {
    const el = await this.$(css);
    await el.clear();
    await el.type(text);
    return el;
  }

  async text(css) {
    const el = await this.$(css);
    return el.text();
  }

  /** Waits until the text of `css` satisfies `pred` (a string to contain, or a function). */
  async waitText(css, pred, ms) {
    const ok = typeof pred === 'string' ? (t) => t.includes(pred) : pred;
    let seen = '';
    try {
      return await waitFor(`text of ${css}`, async () => {
        const el = await this.find(css);
        if (!el) return null;
        seen = await el.text();
        return ok(seen) ? seen : null;
      }, ms);
    } catch (e) {
      throw new Error(`${e.message}; last text: ${JSON.stringify(seen)}`);
    }
  }

  execute(script, args = []) {
    return this.req('POST', '/execute/sync', { script, args });
  }

  /** Chooses `value` in the <select> `css` as a person does (the page
   * hears its change event). WebKitWebDriver cannot click an <option>. */
  async select(css, value) {
    await this.$(css);
    await this.execute(
      'const x = document.querySelector(arguments[0]); x.value = arguments[1]; x.dispatchEvent(new Event("change", { bubbles: true }));',
      [css, value],
    );
  }

  /** Attribute `name` of the first element matching `css` (null: none). */
  attr(css, name) {
    return this.execute('const e = document.querySelector(arguments[0]); return e && e.getAttribute(arguments[1]);', [css, name]);
  }

  /** Waits until attribute `name` of `css` is `value`. */
  async waitAttr(css, name, value, ms) {
    let seen = null;
    try {
      return await waitFor(`${css} ${name}=${value}`, async () => {
        seen = await this.attr(css, name);
        return seen === value ? seen : null;
      }, ms);
    } catch (e) {
      throw new Error(`${e.message}; last: ${JSON.stringify(seen)}`);
    }
  }

  async screenshot(path) {
    const b64 = await this.req('GET', '/screenshot');
    writeFileSync(path, Buffer.from(b64, 'base64'));
  }

  /** Presses keys on the focused element (W3C key codes, e.g. '\uE009' Control). */
  async keys(...sequence) {
    const actions = [];
    for (const k of sequence) actions.push({ type: 'keyDown', value: k });
    for (const k of [...sequence].reverse()) actions.push({ type: 'keyUp', value: k });
    await this.req('POST', '/actions', { actions: [{ type: 'key', id: 'kb', actions }] });
    await this.req('DELETE', '/actions');
  }
}

export class Element {
  constructor(session, id) {
    this.s = session;
    this.id = id;
  }

  req(method, path, body) {
    return this.s.req(method, `/element/${this.id}${path}`, body);
  }

  /** A real click; where WebKitWebDriver wrongly calls the element not
   * interactable (rows inside a scrolled table), a DOM click instead. */
  async click() {
    try {
      return await this.req('POST', '/click', {});
    } catch (e) {
      if (e.wdError !== 'element not interactable') throw e;
      return this.s.execute('arguments[0].scrollIntoView({block: "nearest"}); arguments[0].click();', [this.ref()]);
    }
  }

  clear() {
    return this.req('POST', '/clear', {});
  }

  type(text) {
    return this.req('POST', '/value', { text });
  }

  /** The element's textContent, whitespace collapsed. (WebKitWebDriver's
   * own getText answers '' for elements inside scrolled containers.) */
  async text() {
    const t = await this.s.execute('return arguments[0].textContent', [this.ref()]);
    return (t || '').replace(/\s+/g, ' ').trim();
  }

  ref() {
    return { [ELEMENT]: this.id };
  }

  value() {
    return this.req('GET', '/property/value');
  }

  attr(name) {
    return this.req('GET', `/attribute/${name}`);
  }

  /** Laid out and not hidden (checked in the page, for the same reason). */
  displayed() {
    return this.s.execute(
      'const e = arguments[0]; const st = getComputedStyle(e); return e.getClientRects().length > 0 && st.visibility !== "hidden" && st.display !== "none";',
      [this.ref()],
    );
  }

  async screenshot(path) {
    const b64 = await this.req('GET', '/screenshot');
    writeFileSync(path, Buffer.from(b64, 'base64'));
  }
}
