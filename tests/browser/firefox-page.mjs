// The part of playwright's Page and Locator API the browser tests use,
// over a puppeteer-core Page driving Firefox through WebDriver BiDi, so a
// test reads the same in Chromium and Firefox (firefox.mjs launches it).
//
// Every wait is a condition polled until a deadline (30 s unless the call
// says otherwise, as in playwright); a timeout names the selector, the
// state waited for and what was last seen. Selectors are CSS, plus the two
// playwright forms the tests use: `text=Some words` and a trailing
// `:has-text("words")`. Text matches as in playwright: a substring, case
// and runs of white space ignored. Actions wait as playwright's do: a click
// for a visible, enabled element that would itself get the click (nothing
// covering it); a fill for a visible, enabled, editable one.

import { EventEmitter } from 'node:events';
import { sleep } from '../desktop/webdriver.mjs';

export const TIMEOUT = 30000;
const POLL_MS = 100;

/**
 * Runs in the page: the element `selector` names in `state`, or
 * `{ ok }` (a state with no element: detached, hidden), `{ wait: why }`
 * (not yet) or `{ error }` (never: a bad selector, a strict locator that
 * matches several). Self-contained: puppeteer sends its source.
 */
function probe(selector, { hasText = null, strict = false, state = 'attached' }) {
  const norm = (s) => String(s ?? '').replace(/\s+/g, ' ').trim();
  const has = (el, text) => norm(el.textContent).toLowerCase().includes(norm(text).toLowerCase());
  let found;
  try {
    const text = /^text=(.*)$/s.exec(selector);
    const pseudo = /^(.*):has-text\((["'])(.*)\2\)$/s.exec(selector);
    if (text) {
      // The smallest elements holding the words ("quoted": exactly them).
      const exact = /^(["'])(.*)\1$/s.exec(text[1]);
      const holds = exact ? (el) => norm(el.textContent) === exact[2] : (el) => has(el, text[1]);
      found = [...document.body.querySelectorAll('*')].filter(
        (el) => !['SCRIPT', 'STYLE'].includes(el.tagName) && holds(el) && ![...el.children].some(holds),
      );
    } else if (pseudo) {
      found = [...document.querySelectorAll(pseudo[1])].filter((el) => has(el, pseudo[3]));
    } else {
      found = [...document.querySelectorAll(selector)];
    }
  } catch (e) {
    return { error: `the selector ${selector} is not valid: ${e.message}` };
  }
  if (hasText !== null) found = found.filter((el) => has(el, hasText));
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  if (state === 'detached') return found.length === 0 ? { ok: true } : { wait: `${found.length} element(s) still there` };
  if (state === 'hidden') return found.some(visible) ? { wait: 'an element is still visible' } : { ok: true };
  if (strict && found.length > 1) {
    return { error: `strict mode: the locator matches ${found.length} elements, not one` };
  }
  const el = found[0];
  if (!el) return { wait: 'no element matches' };
  if (state === 'attached') return el;
  if (!visible(el)) return { wait: 'the element is not visible' };
  if (state === 'visible') return el;
  if (el.matches(':disabled')) return { wait: 'the element is disabled' };
  if (state === 'editable' && el.readOnly) return { wait: 'the element is read-only' };
  if (state === 'clickable') {
    let r = el.getBoundingClientRect();
    if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) {
      el.scrollIntoView({ block: 'center', inline: 'center' });
      r = el.getBoundingClientRect();
    }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(hit === el || el.contains(hit))) {
      return { wait: `another element (${hit ? hit.outerHTML.slice(0, 80) : 'none'}) would get the click` };
    }
  }
  return el;
}

/** A selector and its filter, in words for errors. */
function describe(selector, { hasText = null } = {}) {
  return hasText === null ? selector : `${selector} with text "${hasText}"`;
}

/** A playwright-like Page over a puppeteer Page (Firefox). */
export class FirefoxPage extends EventEmitter {
  /** @param {import('puppeteer-core').Page} raw @param {{ waitForDownload: Function }} downloads */
  constructor(raw, downloads) {
    super();
    this.raw = raw;
    this.downloads = downloads;
  }

  /** Wires the events: call once, before the first navigation. */
  async init(viewport) {
    await this.raw.setViewport(viewport);
    this.raw.setDefaultTimeout(TIMEOUT);
    // Firefox reports its own diagnostics (a CSP refusal, "WebRTC: ICE
    // failed") the way it reports uncaught errors, and puppeteer hands
    // both to `pageerror`. Playwright's `pageerror` is uncaught exceptions
    // only: those are caught in the page itself (below) and everything
    // Firefox logs goes to `console` as an error, as Chromium logs it.
    this.raw.on('pageerror', (e) => this.emit('console', { type: () => 'error', text: () => e.message }));
    this.raw.on('console', (m) => this.emit('console', { type: () => m.type(), text: () => m.text() }));
    await this.raw.exposeFunction('__outpostUncaught', (message) => this.emit('pageerror', new Error(message)));
    await this.raw.evaluateOnNewDocument(() => {
      addEventListener('error', (e) => window.__outpostUncaught(String(e.error?.message ?? e.message)));
      addEventListener('unhandledrejection', (e) => window.__outpostUncaught(String(e.reason?.message ?? e.reason)));
    });
  }

  // ---- waiting for elements ----------------------------------------------

  /**
   * The element `selector` names once it is in `state` (null for the
   * states that need none: detached, hidden); throws after `timeout`.
   */
  async element(selector, { state = 'visible', timeout = TIMEOUT, ...filters } = {}) {
    const end = Date.now() + timeout;
    let last = 'nothing checked yet';
    for (;;) {
      let handle = null;
      try {
        handle = await this.raw.evaluateHandle(probe, selector, { state, ...filters });
      } catch (e) {
        // A navigation under way (a reload) takes the page away for a moment.
        last = e.message;
      }
      if (handle) {
        const el = handle.asElement();
        if (el) return el;
        const v = await handle.jsonValue();
        await handle.dispose();
        if (v.ok) return null;
        if (v.error) throw new Error(`${describe(selector, filters)}: ${v.error}`);
        last = v.wait;
      }
      if (Date.now() >= end) {
        throw new Error(`timed out after ${timeout} ms waiting for ${describe(selector, filters)} to be ${state} (${last})`);
      }
      await sleep(POLL_MS);
    }
  }

  /** Every element `selector` names now (no wait). */
  async elements(selector) {
    const list = await this.raw.evaluateHandle((sel) => [...document.querySelectorAll(sel)], selector);
    const props = await list.getProperties();
    await list.dispose();
    return [...props.values()].map((h) => h.asElement()).filter(Boolean);
  }

  waitForSelector(selector, { state = 'visible', timeout = TIMEOUT } = {}) {
    return this.element(selector, { state, timeout });
  }

  locator(selector, { hasText = null } = {}) {
    return new Locator(this, selector, { hasText, strict: true });
  }

  async $(selector) {
    return (await this.elements(selector))[0] ?? null;
  }

  $$(selector) {
    return this.elements(selector);
  }

  $eval(selector, fn, arg) {
    return this.raw.$eval(selector, fn, arg);
  }

  $$eval(selector, fn, arg) {
    return this.raw.$$eval(selector, fn, arg);
  }

  // ---- actions --------------------------------------------------------------

  async click(selector, options = {}) {
    const el = await this.element(selector, { ...options, state: 'clickable' });
    await el.click();
    await el.dispose();
  }

  /** Replaces the field's value as a person types it (one key at a time). */
  async fill(selector, value, options = {}) {
    const el = await this.element(selector, { ...options, state: 'editable' });
    const kind = await el.evaluate((e) => (e instanceof HTMLInputElement || e instanceof HTMLTextAreaElement ? 'field' : e.isContentEditable ? 'editable' : e.tagName));
    if (kind !== 'field' && kind !== 'editable') throw new Error(`${selector} is a ${kind}, which cannot be filled`);
    await el.focus();
    await el.evaluate((e) => (e.select ? e.select() : document.execCommand('selectAll')));
    if (value === '') await this.raw.keyboard.press('Delete');
    else await this.raw.keyboard.type(value);
    await el.dispose();
  }

  async press(selector, key, options = {}) {
    const el = await this.element(selector, { ...options, state: 'visible' });
    await el.focus();
    await this.raw.keyboard.press(key);
    await el.dispose();
  }

  /** Picks the option whose value or label is `wanted` (as playwright does). */
  async selectOption(selector, wanted, options = {}) {
    const el = await this.element(selector, { ...options, state: 'editable' });
    const picked = await el.evaluate((select, want) => {
      if (!(select instanceof HTMLSelectElement)) return { error: `it is a ${select.tagName}, not a select` };
      const option = [...select.options].find((o) => o.value === want) ?? [...select.options].find((o) => o.label === want);
      if (!option) return { error: `no option "${want}" (it has ${[...select.options].map((o) => o.value).join(', ')})` };
      select.value = option.value;
      select.dispatchEvent(new Event('input', { bubbles: true }));
      select.dispatchEvent(new Event('change', { bubbles: true }));
      return { value: option.value };
    }, wanted);
    await el.dispose();
    if (picked.error) throw new Error(`selectOption ${selector}: ${picked.error}`);
    return [picked.value];
  }

  async check(selector, options = {}) {
    const el = await this.element(selector, { ...options, state: 'clickable' });
    if (!(await el.evaluate((e) => e.checked))) await el.click();
    const checked = await el.evaluate((e) => e.checked);
    await el.dispose();
    if (!checked) throw new Error(`clicking ${selector} did not check it`);
  }

  async setInputFiles(selector, files, options = {}) {
    const el = await this.element(selector, { ...options, state: 'attached' });
    await el.uploadFile(...[files].flat());
    await el.dispose();
  }

  // ---- reading ----------------------------------------------------------------

  async read(selector, fn, arg, options = {}) {
    const el = await this.element(selector, { ...options, state: 'attached' });
    const v = await el.evaluate(fn, arg);
    await el.dispose();
    return v;
  }

  textContent(selector, options) {
    return this.read(selector, (e) => e.textContent, null, options);
  }

  getAttribute(selector, name, options) {
    return this.read(selector, (e, n) => e.getAttribute(n), name, options);
  }

  inputValue(selector, options) {
    return this.read(selector, (e) => e.value, null, options);
  }

  isDisabled(selector, options) {
    return this.read(selector, (e) => e.matches(':disabled'), null, options);
  }

  // ---- the page ---------------------------------------------------------------

  async goto(url) {
    return this.raw.goto(url, { waitUntil: 'load' });
  }

  async reload() {
    return this.raw.reload({ waitUntil: 'load' });
  }

  evaluate(fn, arg) {
    return this.raw.evaluate(fn, arg);
  }

  /** playwright's order: (fn, arg, options). */
  waitForFunction(fn, arg, { timeout = TIMEOUT, polling = POLL_MS } = {}) {
    return this.raw.waitForFunction(fn, { timeout, polling }, arg);
  }

  /** 'download' only: the next file Firefox saves in the profile's download folder. */
  waitForEvent(event, { timeout = TIMEOUT } = {}) {
    if (event !== 'download') throw new Error(`the Firefox adapter waits for downloads only, not ${event}`);
    return this.downloads.waitForDownload(timeout);
  }

  screenshot({ path }) {
    return this.raw.screenshot({ path });
  }

  setViewportSize({ width, height }) {
    return this.raw.setViewport({ width, height });
  }

  close() {
    return this.raw.close();
  }
}

/** A playwright-like Locator: strict (one element) unless first(). */
export class Locator {
  constructor(page, selector, filters) {
    this.page = page;
    this.selector = selector;
    this.filters = filters;
  }

  first() {
    return new Locator(this.page, this.selector, { ...this.filters, strict: false });
  }

  async waitFor({ state = 'visible', timeout = TIMEOUT } = {}) {
    const el = await this.page.element(this.selector, { ...this.filters, state, timeout });
    await el?.dispose();
  }

  async click({ timeout = TIMEOUT } = {}) {
    const el = await this.page.element(this.selector, { ...this.filters, state: 'clickable', timeout });
    await el.click();
    await el.dispose();
  }

  textContent({ timeout = TIMEOUT } = {}) {
    return this.page.read(this.selector, (e) => e.textContent, null, { ...this.filters, timeout });
  }

  getAttribute(name, { timeout = TIMEOUT } = {}) {
    return this.page.read(this.selector, (e, n) => e.getAttribute(n), name, { ...this.filters, timeout });
  }

  async boundingBox({ timeout = TIMEOUT } = {}) {
    const el = await this.page.element(this.selector, { ...this.filters, state: 'attached', timeout });
    const box = await el.boundingBox();
    await el.dispose();
    return box;
  }
}
