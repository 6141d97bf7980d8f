// Connect time of a paired browser (attempt start to first answer), with
// the page's own timeline of each attempt (WebSocket, offer, answer, ICE,
// DTLS, channel). Not a test.
//
//   OUTPOST_BIN=/tmp/bins/outpost node tests/browser/connect-bench.mjs [CONNECTS] [chromium|firefox]
//   env: OUTPOST_UI (ui/dist), LISTEN (127.0.0.1; Firefox here needs the
//   machine's own address, 192.0.2.2: with another interface up it offers
//   no loopback candidate), PORT, MODES (below), VERBOSE=1 (each attempt's
//   steps), STEPS=1 (median time of each step), FF_PREFS (JSON).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, waitFor } from '../desktop/webdriver.mjs';

const CONNECTS = Number(process.argv[2] ?? 20);
const BROWSER = process.argv[3] ?? 'chromium';
const CLI = resolve(process.env.OUTPOST_BIN || 'target/debug/outpost');
const UI = resolve(process.env.OUTPOST_UI || 'ui/dist');
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// MODES=none,passive,offer-active: the mode of each reload, in turn (same
// browser, same master, interleaved, so the machine's load hits all alike).
//   passive       the answer is rewritten to a=setup:passive before setLocalDescription
//   offer-active  the master's offer is rewritten to a=setup:active before setRemoteDescription
const MODES = (process.env.MODES || process.env.MUNGE || 'none').split(',');

const dir = mkdtempSync(join(tmpdir(), 'outpost-connect-bench-'));
const port = Number(process.env.PORT || (await freePort()));
const MANAGER = { user: 'manager', password: 'the bench manager' };
writeFileSync(join(dir, 'manager'), `${MANAGER.password}\n`, { mode: 0o600 });
const master = spawn(CLI, ['master', '--data', join(dir, 'm'), '--name', 'Bench depot', '--port', String(port), '--listen', process.env.LISTEN || '127.0.0.1', '--no-mdns', '--ui', UI, '--admin-password-file', join(dir, 'manager')], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
master.stdout.on('data', (d) => (out += d));
const browserUrl = await waitFor('the master', async () => out.match(/^Browser address.*: (http:\/\/\S+)$/m)?.[1]);
const cli = (args) => spawnSync(CLI, args, { encoding: 'utf8' });
const newCode = () => cli(['pair', '--data', join(dir, 'm')]).stdout.match(/^Pairing code: (\S+)$/m)[1];
const party = JSON.parse(cli(['db', '--data', join(dir, 'm'), 'insert', 'Party', JSON.stringify({ party_name: 'Bench Trading', city: 'Kashgar' })]).stdout);

// The page's timeline: every step of the WebSocket and the peer connection.
const INIT = `(() => {
  const MUNGE = sessionStorage.getItem('__munge') ?? '';
  const tl = (window.__tl = []);
  const mark = (what) => tl.push([what, performance.now()]);
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...a) {
      super(...a);
      mark('ws new');
      this.addEventListener('open', () => mark('ws open'));
      this.addEventListener('message', (e) => { try { mark('ws recv ' + JSON.parse(e.data).t); } catch { mark('ws recv ?'); } });
    }
    send(d) { try { mark('ws send ' + JSON.parse(d).t); } catch {} return super.send(d); }
  };
  const PC = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends PC {
    constructor(...a) {
      mark('pc ctor');
      super(...a);
      window.__pcs.push(this);
      mark('pc new');
      this.addEventListener('iceconnectionstatechange', () => mark('ice ' + this.iceConnectionState));
      this.addEventListener('connectionstatechange', () => mark('pc ' + this.connectionState));
      this.addEventListener('icegatheringstatechange', () => mark('gather ' + this.iceGatheringState));
      this.addEventListener('icecandidate', (e) => mark('cand ' + (e.candidate ? e.candidate.candidate.split(' ').slice(4, 8).join(' ') : 'end')));
      this.addEventListener('datachannel', (e) => {
        mark('datachannel');
        const dc = e.channel;
        dc.addEventListener('open', () => mark('dc open'));
        const send = dc.send.bind(dc);
        const dec = new TextDecoder();
        dc.send = (d) => { try { const m = JSON.parse(dec.decode(d.slice(1))); mark('dc send ' + m.op); } catch (e) { mark('dc send ? ' + e); } return send(d); };
        dc.addEventListener('message', (e) => { try { const m = JSON.parse(dec.decode(new Uint8Array(e.data).slice(1))); mark('dc recv ' + (m.ev ?? (m.err ? 'err ' + (m.err.code ?? '') : 'ok'))); } catch { mark('dc recv ?'); } });
      });
    }
    async setRemoteDescription(d) {
      if (MUNGE === 'offer-active' && d && d.type === 'offer') d = { type: 'offer', sdp: d.sdp.replace(/a=setup:actpass/g, 'a=setup:active') };
      mark('srd start'); const r = await super.setRemoteDescription(d); mark('srd done'); return r; }
    async createAnswer(...a) { const r = await super.createAnswer(...a); mark('answer created'); return r; }
    async setLocalDescription(d) {
      if (MUNGE && MUNGE !== 'offer-active' && d && d.type === 'answer') d = { type: 'answer', sdp: d.sdp.replace(/a=setup:active/g, 'a=setup:' + MUNGE) };
      mark('sld start');
      const r = await super.setLocalDescription(d);
      mark('sld done');
      const t = this.sctp && this.sctp.transport;
      if (t) t.addEventListener('statechange', () => mark('dtls ' + t.state));
      if (this.sctp) this.sctp.addEventListener('statechange', () => mark('sctp ' + this.sctp.state));
      return r;
    }
  };
})();`;

let page;
let close;
if (BROWSER === 'firefox') {
  const puppeteer = (await import('puppeteer-core')).default;
  const b = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
    headless: true,
    userDataDir: mkdtempSync(join(dir, 'ff-')),
    extraPrefsFirefox: { 'media.peerconnection.ice.loopback': true, ...JSON.parse(process.env.FF_PREFS || '{}'), 'media.peerconnection.ice.obfuscate_host_addresses': false },
  });
  page = await b.newPage();
  await page.evaluateOnNewDocument(INIT);
  page.fill = async (sel, text) => {
    await page.$eval(sel, (el) => (el.value = ''));
    await page.type(sel, text);
  };
  page.waitText = (sel, text) =>
    page.waitForFunction((s, t) => document.querySelector(s)?.textContent.includes(t), { timeout: 30000 }, sel, text).catch(async (e) => {
      console.error('page says:', await page.evaluate((s) => document.querySelector(s)?.textContent, sel), JSON.stringify(await page.evaluate(() => window.__tl)));
      throw e;
    });
  page.waitSel = (sel) => page.waitForSelector(sel, { timeout: 30000 });
  close = () => b.close();
} else {
  const { chromium } = await import('playwright-core');
  const ctx = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: FLAGS });
  await ctx.addInitScript(INIT);
  page = ctx.pages()[0] ?? (await ctx.newPage());
  page.waitText = (sel, text) => page.locator(sel, { hasText: text }).waitFor();
  page.waitSel = (sel) => page.locator(sel).waitFor();
  close = () => ctx.close();
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) / 2)];
try {
  await page.goto(browserUrl);
  await page.waitSel('[data-testid="nav-connect"]');
  await page.click('[data-testid="nav-connect"]');
  await page.fill('[data-testid="connect-code"]', newCode());
  await page.click('[data-testid="connect-submit"]');
  await page.waitText('[data-testid="connect-message"]', 'Paired with');
  await page.click('[data-testid="nav-records"]');
  await page.fill('[data-testid="signin-user"]', MANAGER.user);
  await page.fill('[data-testid="signin-password"]', MANAGER.password);
  await page.click('[data-testid="signin-submit"]');
  await page.waitSel('[data-testid="status-user"]');

  const fromAttemptBy = {};
  const stepsBy = {};
  const gapBy = {};
  const segBy = {};
  for (let i = 0; i < CONNECTS * MODES.length; i++) {
    const mode = MODES[i % MODES.length];
    await page.evaluate((m) => sessionStorage.setItem('__munge', m === 'none' ? '' : m), mode);
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
      let role = null;
      try {
        const pc = window.__pcs[window.__pcs.length - 1];
        const st = await pc.getStats();
        st.forEach((s) => {
          if (s.type === 'transport') role = s.dtlsRole ?? null;
        });
      } catch {}
      return { attempt: transport.timing.attempt, done, tl: window.__tl, role };
    }, party.name);
    const steps = (stepsBy[mode] ??= {});
    (fromAttemptBy[mode] ??= []).push(t.done - t.attempt);
    const at = (w) => t.tl.find(([x, when]) => x === w && when >= t.attempt)?.[1];
    (gapBy[mode] ??= []).push(at('pc connected') - at('ice connected'));
    (segBy[mode] ??= []).push([at('ice connected') - t.attempt, at('dc open') - at('pc connected'), t.done - at('dc open'), t.tl.some(([x, when]) => x === 'dc recv err unauthorized' && when >= t.attempt) ? 1 : 0]);
    // Each step once (its first occurrence), relative to the attempt start.
    const seen = new Set();
    let prev = t.attempt;
    const line = [];
    for (const [what, at] of t.tl) {
      if (at < t.attempt || seen.has(what) || what.startsWith('cand') || what.startsWith('gather')) continue;
      seen.add(what);
      (steps[what] ??= []).push(at - t.attempt);
      line.push(`${what} +${(at - prev).toFixed(1)}`);
      prev = at;
    }
    line.push(`answered +${(t.done - prev).toFixed(1)}`);
    if (process.env.VERBOSE) console.log(`#${i + 1} ${mode} ${(t.done - t.attempt).toFixed(1)} ms (dtls role ${t.role}): ${line.join(', ')}`);
  }
  console.log(`${BROWSER}, ${CONNECTS} connects per mode, interleaved, ${CLI}, UI ${UI}`);
  for (const mode of MODES) {
    const fromAttempt = fromAttemptBy[mode];
    const steps = stepsBy[mode];
    console.log(`[${mode}] connect, paired, attempt start to first answer: median ${median(fromAttempt).toFixed(1)} ms, min ${Math.min(...fromAttempt).toFixed(1)}, max ${Math.max(...fromAttempt).toFixed(1)}`);
    if (process.env.STEPS) {
      console.log('  median time of each step from the attempt start:');
      for (const [what, v] of Object.entries(steps).sort((a, b) => median(a[1]) - median(b[1]))) console.log(`    ${what.padEnd(22)} ${median(v).toFixed(1).padStart(7)} ms  (${v.length})`);
    }
    const seg = (k) => median(segBy[mode].map((x) => x[k])).toFixed(1);
    console.log(`  attempt start to ICE connected ${seg(0)} ms; ICE connected to connection connected (DTLS), median ${median(gapBy[mode]).toFixed(1)} ms; to channel open ${seg(1)} ms; channel open to first answer ${seg(2)} ms (a call refused 'unauthorized' at open in ${segBy[mode].filter((x) => x[3]).length}/${segBy[mode].length})`);
    console.log(`  samples: ${fromAttempt.map((x) => x.toFixed(0)).join(' ')}`);
  }
} finally {
  await close().catch(() => {});
  master.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
