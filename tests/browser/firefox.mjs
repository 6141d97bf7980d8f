// Firefox ESR for the browser tests: Debian's firefox-esr, driven by
// puppeteer-core over WebDriver BiDi (nothing is downloaded), behind the
// part of playwright's BrowserContext the tests use (firefox-page.mjs has
// the Page), so harness.mjs hands a test the same objects in both engines.
//
// What differs from Chromium, and why (docs/browser.md, "Engines"):
// - ICE on loopback. A page without camera or microphone permission gets
//   candidates on the default route's interface only, and for a page
//   served from a loopback address Firefox looks that route up towards a
//   public address: the LAN card, never 127.0.0.1. A master listening on
//   127.0.0.1 then has no candidate pair with the browser. So on loopback
//   the profile allows camera and microphone (never used: no page asks
//   for them), which lifts that rule, and `media.peerconnection.ice.loopback`
//   lets loopback addresses in. Firefox hides host addresses behind mDNS
//   names only for pages without that permission, so on loopback its
//   candidates carry real addresses. On a LAN (`netns`) none of this is
//   set: the default route there leads to the master, the candidates are
//   `.local` names, and the master learns the browser's address from its
//   checks, as with Chromium.
// - Downloads. Puppeteer has no download events over BiDi: the profile
//   saves every download, without asking, into a folder of its own, and a
//   download is the next finished file there.
// - Host names. Chromium maps a name with --host-resolver-rules; Firefox
//   has `network.dns.forceResolve`, which sends every name to one address.
// - Another host (`netns`). Firefox speaks BiDi over a WebSocket on its own
//   loopback, which inside a network namespace is not this one's: a local
//   port forwards each connection into the namespace.

import { spawn } from 'node:child_process';
import { chmodSync, createReadStream, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import { freePort, sleep } from '../desktop/webdriver.mjs';
import { FirefoxPage, TIMEOUT } from './firefox-page.mjs';

export const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';

/** The profile's preferences (see the top of this file for the why). */
function prefs({ downloads, loopback, hosts }) {
  const p = {
    'browser.download.folderList': 2,
    'browser.download.dir': downloads,
    'browser.download.useDownloadDir': true,
    'browser.download.always_ask_before_handling_new_types': false,
    'browser.download.start_downloads_in_tmp_dir': false,
    'browser.download.alwaysOpenPanel': false,
    // No "save this password?" bar over the page after a sign-in.
    'signon.rememberSignons': false,
  };
  if (loopback) {
    Object.assign(p, {
      'media.peerconnection.ice.loopback': true,
      'permissions.default.camera': 1,
      'permissions.default.microphone': 1,
    });
  }
  const ips = [...new Set(Object.values(hosts))];
  if (ips.length > 1) throw new Error(`Firefox can send every host name to one address only, not to ${ips.join(' and ')}`);
  if (ips.length === 1) p['network.dns.forceResolve'] = ips[0];
  return p;
}

/**
 * Firefox with its own profile (a device of its own), like playwright's
 * launchPersistentContext. `dir` holds its downloads (and the wrapper
 * for `netns`); `hosts` maps host names to addresses; `netns` runs it in
 * that network namespace (another host on a LAN, not loopback).
 */
export async function launchFirefox({ profile, dir, viewport, hosts = {}, netns = null }) {
  const downloads = join(dir, 'downloads');
  mkdirSync(downloads, { recursive: true });
  const options = {
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    userDataDir: profile,
    defaultViewport: viewport,
    extraPrefsFirefox: prefs({ downloads, loopback: !netns, hosts }),
  };
  let forward = null;
  if (netns) {
    const wrapper = join(dir, 'firefox-in-ns');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${netns} ${FIREFOX} "$@"\n`);
    chmodSync(wrapper, 0o755);
    options.executablePath = wrapper;
    options.debuggingPort = await freePort();
    forward = await forwardIntoNetns(netns, options.debuggingPort);
  }
  let browser;
  try {
    browser = await puppeteer.launch(options);
  } catch (e) {
    forward?.close();
    throw e;
  }
  const ctx = new FirefoxContext(browser, new Downloads(downloads), viewport, forward);
  for (const raw of await browser.pages()) await ctx.adopt(raw);
  return ctx;
}

/** A playwright-like BrowserContext: the pages of one Firefox. */
class FirefoxContext {
  constructor(browser, downloads, viewport, forward) {
    this.browser = browser;
    this.downloads = downloads;
    this.viewport = viewport;
    this.forward = forward;
    this.initScripts = [];
    this.list = [];
    this.closed = false;
  }

  async adopt(raw) {
    const page = new FirefoxPage(raw, this.downloads);
    await page.init(this.viewport);
    for (const s of this.initScripts) await raw.evaluateOnNewDocument(s);
    this.list.push(page);
    return page;
  }

  /** The pages opened through this context (not tabs a page opens itself,
   * such as the PDF Firefox shows after saving it). */
  pages() {
    return [...this.list];
  }

  async newPage() {
    return this.adopt(await this.browser.newPage());
  }

  /** Runs `fn` in every page before its own scripts (as playwright's does). */
  async addInitScript(fn) {
    this.initScripts.push(fn);
    for (const p of this.list) await p.raw.evaluateOnNewDocument(fn);
  }

  /** Closes Firefox (and waits for it to exit: its profile is free again). */
  async close() {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.browser.close();
    } finally {
      this.forward?.close();
    }
  }
}

/** Downloads: finished files in the profile's download folder. */
class Downloads {
  constructor(folder) {
    this.folder = folder;
    this.seen = new Set();
  }

  /**
   * The next download to finish: a new file there whose `.part` is gone.
   * Firefox first reserves the name with an empty file, so a file counts
   * once it has bytes and kept its size over two looks. Files stay where
   * Firefox put them (it still touches them when done): a second download
   * of the same name is `name(1).ext`, as a person would get it.
   */
  async waitForDownload(timeout = TIMEOUT) {
    const end = Date.now() + timeout;
    let candidate = null;
    for (;;) {
      const names = readdirSync(this.folder);
      const fresh = names.filter((n) => !this.seen.has(n) && !n.endsWith('.part') && !names.includes(`${n}.part`));
      const sizes = new Map(fresh.map((n) => [n, statSync(join(this.folder, n)).size]));
      const done = fresh.find((n) => sizes.get(n) > 0 && candidate?.name === n && candidate.size === sizes.get(n));
      if (done) {
        this.seen.add(done);
        return new Download(join(this.folder, done), done);
      }
      const growing = fresh.find((n) => sizes.get(n) > 0);
      candidate = growing ? { name: growing, size: sizes.get(growing) } : null;
      if (Date.now() >= end) {
        throw new Error(`timed out after ${timeout} ms waiting for a download in ${this.folder} (there: ${names.join(', ') || 'nothing'})`);
      }
      await sleep(100);
    }
  }
}

/** A finished download, as playwright's Download. */
class Download {
  constructor(file, name) {
    this.file = file;
    this.name = name;
  }

  suggestedFilename() {
    return this.name;
  }

  async path() {
    return this.file;
  }

  async saveAs(to) {
    await copyFile(this.file, to);
  }

  async createReadStream() {
    return createReadStream(this.file);
  }
}

/**
 * A port here that forwards each connection to the same port on the
 * namespace's loopback (through a Node.js inside it); `close()` stops it.
 */
async function forwardIntoNetns(netns, port) {
  const pipe = `const s = require('net').connect(${port}, '127.0.0.1');
process.stdin.pipe(s).pipe(process.stdout);
s.on('error', () => process.exit(1));
s.on('close', () => process.exit(0));`;
  const children = new Set();
  const server = createServer((sock) => {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', pipe], { stdio: ['pipe', 'pipe', 'ignore'] });
    children.add(child);
    child.on('exit', () => {
      children.delete(child);
      sock.destroy();
    });
    sock.pipe(child.stdin);
    child.stdout.pipe(sock);
    sock.on('error', () => child.kill());
    sock.on('close', () => child.kill());
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    close() {
      server.close();
      for (const c of children) c.kill();
    },
  };
}
