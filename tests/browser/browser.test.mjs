// Browser slaves, end to end: a real `outpost master` serving ui/dist, and
// a headless browser opening the page it serves: Debian's Chromium (driven
// by playwright-core) or Firefox ESR (OUTPOST_BROWSER=firefox, see
// harness.mjs). Each browser has its own profile folder, so its own
// IndexedDB and its own certificate: two browsers are two devices.
//
// Env: OUTPOST_BIN (the CLI, default target/debug/outpost), OUTPOST_UI
// (default ui/dist), OUTPOST_BROWSER (chromium or firefox), CHROMIUM
// (default /usr/bin/chromium), FIREFOX (default /usr/bin/firefox-esr),
// SHOTS_DIR (screenshots, default docs/screenshots).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, waitFor, sleep } from '../desktop/webdriver.mjs';
import { trytond } from '../desktop/trytond.mjs';
import {
  FIREFOX_ENGINE,
  cli,
  startMaster,
  startStandby,
  openBrowser,
  openPages,
  withShots,
  tid,
  shot,
  pair,
  signIn,
  linkState,
  openDoctype,
  pickLink,
  row,
  cleanups,
  tempDir,
} from './harness.mjs';

test('two browsers pair by code, one makes a Sale with lines, the other and a CLI slave see it; reload, master restart, revocation', withShots(async () => {
  const m = await startMaster('Kashgar depot');
  for (const [n, code, price] of [['Rice 25kg', 'RICE', 31.5], ['Tea 1kg', 'TEA', 8.25]]) {
    const r = cli(['db', '--data', m.data, 'insert', 'Product', JSON.stringify({ product_name: n, code, list_price: price })]);
    assert.equal(r.code, 0, r.err);
  }
  // The page and the master's description of itself come from the master.
  const info = await (await fetch(`${m.browser}outpost.json`)).json();
  assert.deepEqual(info, { office: 'Kashgar depot', fingerprint: m.fingerprint, signal: '/signal' });

  const a = await openBrowser('a');
  await a.page.goto(m.browser);
  await a.page.waitForSelector(tid('welcome'));
  await shot(a.page, 'b01-browser-welcome');
  await pair(a.page, m.code, 'Counter tablet');
  await a.page.locator(tid('connect-message'), { hasText: 'Paired with Kashgar depot' }).waitFor();
  assert.equal(await linkState(a.page), 'connected');
  // Chromium signals its host candidates as mDNS names only, and the
  // master still connects (no `.local` name is resolved). Firefox, allowed
  // the camera on loopback (firefox.mjs says why), signals its real
  // addresses, 127.0.0.1 among them: the pair the master answers.
  const signalled = await a.page.evaluate(() => window.__candidates.filter((c) => / typ host/.test(c)));
  const hostAddrs = signalled.map((c) => c.split(' ')[4]);
  if (FIREFOX_ENGINE) {
    assert.ok(hostAddrs.includes('127.0.0.1') && hostAddrs.every((h) => !h.endsWith('.local')), signalled.join(' | '));
  } else {
    assert.ok(signalled.length > 0 && hostAddrs.every((h) => h.endsWith('.local')), signalled.join(' | '));
  }
  await shot(a.page, 'b02-browser-paired');
  // The Pairing screen points to the master's install page (issue 17).
  assert.equal(await a.page.getAttribute(tid('install-link'), 'href'), '/install/');
  const install = await fetch(`${m.browser}install/`);
  assert.equal(install.status, 200);
  assert.match(await install.text(), /Install Outpost on another PC/);

  const b = await openBrowser('b');
  await b.page.goto(m.browser);
  await pair(b.page, m.code, 'Back office laptop');
  await b.page.locator(tid('connect-message'), { hasText: 'Paired with' }).waitFor();

  // Two devices on the master, by the names given, with their own ids.
  const devices = cli(['devices', '--data', m.data]).out.trim().split('\n').map((l) => JSON.parse(l));
  const names = devices.map((d) => d.name).sort();
  assert.deepEqual(names, ['Back office laptop', 'Counter tablet']);
  const idA = await a.page.getAttribute(tid('device-id'), 'title');
  const idB = await b.page.getAttribute(tid('device-id'), 'title');
  assert.notEqual(idA, idB);
  assert.ok(devices.some((d) => d.fingerprint === idA && d.name === 'Counter tablet'));

  // Each signs in (Records shows the sign-in screen until then).
  await signIn(a.page);
  await signIn(b.page);

  // B watches the Sales list; A makes a Party, then a Sale with two lines.
  await openDoctype(b.page, 'Sale');
  await openDoctype(a.page, 'Party');
  await a.page.click(tid('new-record'));
  await a.page.fill('[data-testid="form"] [data-field="party_name"]', 'Acme Trading');
  await a.page.fill('[data-testid="form"] [data-field="city"]', 'Yarkant');
  await a.page.click(tid('save'));
  await a.page.locator(tid('form-rev'), { hasText: '1' }).waitFor();

  await openDoctype(a.page, 'Sale');
  await a.page.click(tid('new-record'));
  await pickLink(a.page, '[data-testid="form"] input[data-field="party"]', 'Acme Trading');
  for (const [i, product, qty, price] of [[0, 'Rice 25kg', '2', '31.5'], [1, 'Tea 1kg', '4', '8.25']]) {
    await a.page.click(tid('add-row-lines'));
    const r = `${tid('table-lines')} tr[data-idx="${i}"]`;
    await pickLink(a.page, `${r} input[data-child-field="product"]`, product);
    await a.page.fill(`${r} [data-child-field="quantity"]`, qty);
    await a.page.fill(`${r} [data-child-field="unit_price"]`, price);
  }
  await waitFor('the total to show 96', async () =>
    /96/.test(await a.page.$eval('[data-testid="form"] [data-field="total"]', (el) => `${el.textContent} ${el.value ?? ''}`)),
  );
  await shot(a.page, 'b03-browser-sale-form');
  await a.page.click(tid('save'));
  await a.page.locator(tid('form-rev'), { hasText: '1' }).waitFor();

  // B's open list shows it without anyone reloading.
  await row(b.page, 'Acme Trading').waitFor({ timeout: 15000 });
  await shot(b.page, 'b04-browser-list-live');

  // A CLI slave (a PC's `outpost db --connect`) sees the same Sale and lines.
  const cliDir = tempDir('cli');
  const sales = cli(['db', '--data', cliDir, '--connect', m.url, 'query', 'Sale']);
  assert.equal(sales.code, 0, sales.err);
  const sale = cli(['db', '--data', cliDir, '--connect', m.url, 'get', 'Sale', sales.json.name]).json;
  assert.equal(sale.total, 96);
  assert.deepEqual(sale.lines.map((l) => [l.quantity, l.unit_price]), [[2, 31.5], [4, 8.25]]);
  assert.equal(sale.modified_by, idA, 'the Sale is recorded as made by browser A');

  // And B sees a CLI change live in an open form.
  await row(b.page, 'Acme Trading').click();
  await b.page.waitForSelector(tid('form'));
  const party = cli(['db', '--data', cliDir, '--connect', m.url, 'get', 'Party', sale.party]).json;
  const up = cli(['db', '--data', cliDir, '--connect', m.url, 'update', 'Party', party.name, JSON.stringify({ rev: party.rev, party_name: 'Acme Trading Co' })]);
  assert.equal(up.code, 0, up.err);
  await openDoctype(b.page, 'Party');
  await row(b.page, 'Acme Trading Co').waitFor({ timeout: 15000 });

  // A reload keeps the device: it reconnects with its kept certificate, no
  // code, and resumes its sign-in before anything else (no call of the
  // reloaded page is refused as not signed in).
  const refusedCalls = () => (m.log().match(/refused: sign in first/g) ?? []).length;
  const refusedBefore = refusedCalls();
  await a.page.reload();
  await waitFor('A to reconnect after a reload', async () => (await linkState(a.page)) === 'connected');
  await openDoctype(a.page, 'Party');
  await row(a.page, 'Acme Trading Co').waitFor();
  assert.equal(refusedCalls(), refusedBefore, 'a call of the reloaded page went out before its sign-in was resumed');
  await a.page.click(tid('nav-connect'));
  assert.equal(await a.page.getAttribute(tid('device-id'), 'title'), idA);

  // A second tab of A's browser is the same device: it takes the session,
  // and the first tab, told so, stops instead of taking it back (the two
  // would close each other without end). A reload brings the first back.
  const a2 = await a.ctx.newPage();
  await a2.goto(m.browser);
  await waitFor('the second tab to connect', async () => (await linkState(a2)) === 'connected');
  await waitFor('the first tab to stop', async () => (await linkState(a.page)) === 'refused');
  assert.match(await a.page.textContent(tid('browser-refused')), /another tab/);
  await shot(a.page, 'b10-browser-open-in-another-tab');
  await sleep(1500);
  assert.equal(await linkState(a2), 'connected', 'the second tab kept the session');
  assert.equal(await linkState(a.page), 'refused', 'the first tab stays stopped');
  await a2.close();
  await a.page.reload();
  await waitFor('A to connect again after a reload', async () => (await linkState(a.page)) === 'connected');

  // The master restarts: the page notices, retries with backoff, and is back.
  await openDoctype(a.page, 'Party');
  await m.stop();
  await waitFor('A to notice the master is gone', async () => ['reconnecting', 'connecting'].includes(await linkState(a.page)));
  await sleep(1500);
  const m2 = await startMaster('Kashgar depot', { data: m.data, port: m.port });
  await waitFor('A to reconnect to the restarted master', async () => (await linkState(a.page)) === 'connected', 45000);
  await row(a.page, 'Acme Trading Co').waitFor();

  // On a phone-sized screen the menus become bars and a form takes the
  // whole width.
  await a.page.setViewportSize({ width: 390, height: 844 });
  await openDoctype(a.page, 'Sale');
  const [rec, pairing] = [await a.page.locator(tid('nav-records')).boundingBox(), await a.page.locator(tid('nav-connect')).boundingBox()];
  assert.equal(rec.y, pairing.y, 'the main menu is one row');
  await row(a.page, 'Acme Trading').click();
  await a.page.waitForSelector(tid('form'));
  const form = await a.page.locator(tid('form')).boundingBox();
  assert.ok(form.width >= 380, `the form takes the width (${form.width})`);
  await shot(a.page, 'b09-browser-phone-sale');
  await a.page.setViewportSize({ width: 1280, height: 760 });

  // Revoked on the master: B is cut off at once and cannot come back.
  const rv = cli(['devices', '--data', m2.data, 'revoke', idB]);
  assert.equal(rv.code, 0, rv.err);
  await waitFor('B to be refused after its revocation', async () => (await linkState(b.page)) === 'refused', 30000);
  await b.page.click(tid('nav-records'));
  await b.page.locator('text=The master refused this device').waitFor();
  await b.page.click(tid('nav-connect'));
  const refused = await b.page.textContent(tid('browser-refused'));
  assert.match(refused, /revoked/);
  await shot(b.page, 'b05-browser-revoked');
  // A is not affected.
  assert.equal(await linkState(a.page), 'connected');
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
}));

test('a wrong or expired code gets a clear message and no channel; a page pins the master it came from', withShots(async () => {
  const m = await startMaster('Aksu store');
  const c = await openBrowser('wrong');
  await c.page.goto(m.browser);
  await pair(c.page, 'WRNG-2345');
  const wrong = await c.page.locator(tid('connect-message'), { hasText: 'code' }).textContent();
  assert.match(wrong, /wrong pairing code/i);
  await shot(c.page, 'b06-browser-wrong-code');

  // An expired code: `outpost pair --minutes 0` makes one that is already old.
  const expired = cli(['pair', '--data', m.data, '--minutes', '0']).out.match(/^Pairing code: (\S+)$/m)[1];
  await c.page.fill(tid('connect-code'), expired);
  await c.page.click(tid('connect-submit'));
  await c.page.locator(tid('connect-message'), { hasText: 'expired' }).waitFor();
  // No peer connection was ever made, nothing was approved, and no DB call gets through.
  assert.equal(await c.page.evaluate(() => window.__peerConnections), 0);
  assert.equal(cli(['devices', '--data', m.data]).out.trim(), '');
  assert.notEqual(await linkState(c.page), 'connected');

  // Pinning. A proxy stands for whatever sits between a browser and the
  // LAN: it chooses which master answers /outpost.json and which answers
  // the signaling socket. The browser's device (one certificate per page
  // address) is approved on both masters.
  const other = await startMaster('Impostor');
  const route = { info: m.port, signal: m.port };
  const port = await freePort();
  const { createServer, connect } = await import('node:net');
  const sockets = new Set();
  const proxy = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.once('data', (first) => {
      const line = first.toString('latin1').split('\r\n')[0];
      const to = line.startsWith('GET /signal') ? route.signal : route.info;
      const out = connect(to, '127.0.0.1', () => {
        sockets.add(out);
        out.on('close', () => sockets.delete(out));
        out.write(first);
        sock.pipe(out).pipe(sock);
      });
      out.on('error', () => sock.destroy());
      sock.on('error', () => out.destroy());
    });
  });
  await new Promise((r) => proxy.listen(port, '127.0.0.1', r));
  cleanups.push(() => {
    for (const x of sockets) x.destroy();
    return new Promise((r) => proxy.close(r));
  });
  const d = await openBrowser('pinned');
  await d.page.goto(`http://127.0.0.1:${port}/`);
  const fresh = cli(['pair', '--data', m.data]).out.match(/^Pairing code: (\S+)$/m)[1];
  await pair(d.page, fresh, 'Pinned laptop');
  await d.page.locator(tid('connect-message'), { hasText: 'Paired with Aksu store' }).waitFor();
  await d.page.click(tid('forget-master'));
  await d.page.click(tid('confirm-ok'));
  await d.page.waitForSelector(tid('connect-code'));
  Object.assign(route, { info: other.port, signal: other.port });
  await d.page.reload();
  await pair(d.page, other.code, 'Pinned laptop');
  await d.page.locator(tid('connect-message'), { hasText: 'Paired with Impostor' }).waitFor();
  const pcsBefore = await d.page.evaluate(() => window.__peerConnections);

  // The page came from "Impostor" but the signaling now reaches "Aksu store",
  // which knows this device and offers: the page refuses the offer before
  // applying it (no new peer connection is made).
  route.signal = m.port;
  await d.page.reload();
  await waitFor('the page to refuse the other master', async () => (await linkState(d.page)) === 'refused');
  await d.page.click(tid('nav-connect'));
  const pinned = await d.page.textContent(tid('browser-refused'));
  assert.match(pinned, /is not the one this page was served by: its certificate is/);
  assert.equal(await d.page.evaluate(() => window.__peerConnections), 0, 'no peer connection after the reload');
  assert.ok(pcsBefore >= 1);
  await shot(d.page, 'b08-browser-pinned');

  // And a page from "Aksu store" while this browser is paired with
  // "Impostor" at this address says so instead of connecting.
  route.info = m.port;
  await d.page.reload();
  await d.page.click(tid('nav-connect'));
  const changed = await d.page.textContent(tid('browser-refused'));
  assert.match(changed, /is not the one this browser was paired with/);
  assert.equal(await d.page.evaluate(() => window.__peerConnections), 0);
}));

/** Two network namespaces joined by a veth pair: a master PC and another PC. */
function twoHosts() {
  const tag = `op${process.pid % 10000}`;
  const [nm, nb] = [`${tag}m`, `${tag}b`];
  const sh = (cmd) => {
    const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  const net = `10.${200 + (process.pid % 50)}.${process.pid % 250}`;
  sh(`ip netns add ${nm} && ip netns add ${nb}`);
  cleanups.push(() => sh(`ip netns del ${nm}; ip netns del ${nb}`));
  sh(`ip link add ${tag}vm type veth peer name ${tag}vb`);
  sh(`ip link set ${tag}vm netns ${nm} && ip link set ${tag}vb netns ${nb}`);
  sh(`ip -n ${nm} addr add ${net}.1/24 dev ${tag}vm && ip -n ${nm} link set ${tag}vm up && ip -n ${nm} link set lo up`);
  sh(`ip -n ${nb} addr add ${net}.2/24 dev ${tag}vb && ip -n ${nb} link set ${tag}vb up && ip -n ${nb} link set lo up`);
  return { master: nm, other: nb, masterIp: `${net}.1` };
}

test('a browser on another host (network namespace) opens the printed address, pairs, and works live with a CLI slave there', withShots(async () => {
  const hosts = twoHosts();
  const m = await startMaster('Hotan branch', { listen: '0.0.0.0', netns: hosts.master });
  assert.equal(m.browser, `http://${hosts.masterIp}:${m.port}/`, 'the printed address is the master\'s LAN address');
  // The browser runs in the other namespace: its only address is the
  // veth's, and it hides it behind an mDNS `.local` name in its candidates
  // (Firefox as well: nothing is allowed here, as on a real LAN).
  const e = await openBrowser('netns', { netns: hosts.other });
  await e.page.goto(m.browser);
  await pair(e.page, m.code, 'Hotan phone');
  await e.page.locator(tid('connect-message'), { hasText: 'Paired with Hotan branch' }).waitFor();
  await signIn(e.page);
  // The page's own view of the connection: its host candidates keep their
  // address hidden, and the pair in use reaches the master's LAN address
  // (the master learnt the browser's address from its checks, so it never
  // had to resolve a `.local` name).
  const view = await e.page.evaluate(async () => {
    const stats = [];
    (await window.__pcs.at(-1).getStats()).forEach((r) => stats.push(r));
    const pair = stats.find((r) => r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded');
    const remote = stats.find((r) => r.id === pair?.remoteCandidateId);
    const hosts = stats.filter((r) => r.type === 'local-candidate' && r.candidateType === 'host');
    return { remote: remote?.address, hosts: hosts.map((h) => h.address ?? '') };
  });
  assert.equal(view.remote, hosts.masterIp);
  // Chromium's stats leave a hidden address empty; Firefox's give its
  // mDNS name.
  const hidden = (a) => (FIREFOX_ENGINE ? a.endsWith('.local') : a === '');
  assert.ok(view.hosts.length > 0 && view.hosts.every(hidden), `the browser hides its host addresses: ${JSON.stringify(view.hosts)}`);
  // Candidates it did signal (if its mDNS registration finished in time)
  // are `.local` names.
  const candidates = await e.page.evaluate(() => window.__candidates);
  assert.ok(candidates.every((c) => c.split(' ')[4].endsWith('.local') || !/ typ host/.test(c)), candidates.join(' | '));

  // A CLI slave on the same other host writes; the browser sees it live.
  await openDoctype(e.page, 'Party');
  const cliDir = tempDir('ns-cli');
  const ins = cli(['db', '--data', cliDir, '--connect', m.url, 'insert', 'Party', JSON.stringify({ party_name: 'Kunlun Traders', city: 'Hotan' })], { netns: hosts.other });
  assert.equal(ins.code, 0, ins.err);
  await row(e.page, 'Kunlun Traders').waitFor({ timeout: 15000 });
  await shot(e.page, 'b07-browser-other-host');
  assert.deepEqual(e.errors, []);
}));

test('a Sale made in a browser reaches the head office (Tryton); its number and state come back to the open form live', withShots(async () => {
  const hq = await trytond(cleanups);
  const file = join(tempDir('upstream'), 'upstream.toml');
  writeFileSync(
    file,
    `kind = "tryton"\nurl = "http://127.0.0.1:${hq.port}/"\ndatabase = "hq"\nuser = "admin"\npassword = "admin"\ninterval_seconds = 3600\n` +
      '[doctypes.Party]\nmodel = "party.party"\n[doctypes.Product]\nmodel = "product.product"\n' +
      '[doctypes.Sale]\nmodel = "sale.sale"\ndefaults = { invoice_method = "manual", shipment_method = "manual" }\n',
  );
  const m = await startMaster('Hotan depot', { extra: ['--upstream', file] });
  for (const args of [
    ['Party', { party_name: 'Hotan Silk House', code: 'HSH' }],
    ['Product', { product_name: 'Silk scarf', code: 'SCARF', list_price: 12 }],
  ]) {
    const r = cli(['db', '--data', m.data, 'insert', args[0], JSON.stringify(args[1])]);
    assert.equal(r.code, 0, r.err);
  }
  const syncNow = () => {
    const r = cli(['sync', 'now', '--data', m.data, '--timeout', '120']);
    assert.equal(r.code, 0, `${r.out}${r.err}`);
  };
  const { page, errors } = await openBrowser('sales');
  await page.goto(m.browser);
  await pair(page, m.code, 'Shop tablet');
  await page.locator(tid('connect-message'), { hasText: 'Paired with' }).waitFor();
  await signIn(page);

  // The clerk makes the Sale with three lines in the browser.
  await openDoctype(page, 'Sale');
  await page.click(tid('new-record'));
  await pickLink(page, '[data-testid="form"] input[data-field="party"]', 'Hotan Silk House');
  for (const [i, qty, price] of [[0, '2', '12'], [1, '1', '11.5'], [2, '3', '10']]) {
    await page.click(tid('add-row-lines'));
    const r = `${tid('table-lines')} tr[data-idx="${i}"]`;
    await pickLink(page, `${r} input[data-child-field="product"]`, 'Silk scarf');
    await page.fill(`${r} [data-child-field="quantity"]`, qty);
    await page.fill(`${r} [data-child-field="unit_price"]`, price);
  }
  await page.click(tid('save'));
  await page.locator(tid('form-rev'), { hasText: '1' }).waitFor();
  const name = await page.getAttribute(tid('form'), 'data-name');
  syncNow();
  const [sale] = await hq.rpc('model.sale.sale.search_read', [[['reference', '=', name]], 0, null, null, ['state', 'total_amount'], {}]);
  assert.equal(sale.state, 'draft');
  assert.equal(sale.total_amount.decimal, '65.50');

  // Confirmed in the browser; the head office runs its workflow; the open
  // form shows its number and state without a reload.
  // (The master's own sync may already have brought Tryton's sale date
  // back: the revision is whatever it is now, plus one.)
  const rev = Number(await page.getAttribute(tid('form-rev'), 'data-rev'));
  await page.selectOption('[data-testid="form"] select[data-field="state"]', 'Confirmed');
  await page.click(tid('save'));
  await waitFor('the save', async () => Number(await page.getAttribute(tid('form-rev'), 'data-rev')) > rev);
  syncNow();
  syncNow();
  const [after] = await hq.rpc('model.sale.sale.search_read', [[['reference', '=', name]], 0, null, null, ['state', 'number'], {}]);
  assert.equal(after.state, 'processing');
  await waitFor('the head office state in the open form', async () =>
    ((await page.textContent('[data-testid="form"] output[data-field="hq_state"]')) ?? '').includes('Processing'),
  );
  assert.equal((await page.textContent('[data-testid="form"] output[data-field="number"]')).trim(), after.number);
  await page.locator(tid('form-sync'), { hasText: 'sent' }).waitFor();
  await shot(page, 'b10-browser-sale-from-head-office');
  // With the form closed the list has room for its Head office column.
  await page.click('[aria-label="Close form"]');
  await page.locator(`${tid('row')} td[data-sync="sent"]`).first().waitFor();
  await shot(page, 'b11-browser-sales-list-head-office');
  assert.deepEqual(errors, []);
}));

test('a paired browser follows a failover: the standby promoted at the same address is accepted without pairing again', withShots(async () => {
  const m = await startMaster('Failover depot', { extra: ['--durability', 'sync'] });
  // Another PC is made the office's standby and follows the master.
  const sbData = tempDir('standby');
  const sbId = await startStandby(m, sbData);

  // A browser pairs (and learns the office's roster from the master).
  const b = await openBrowser('failover');
  await b.page.goto(m.browser);
  await pair(b.page, m.code, 'Counter tablet');
  await waitFor('the browser to connect', async () => (await linkState(b.page)) === 'connected');
  await signIn(b.page);
  const cliDir = tempDir('cli-failover');
  const before = cli(['db', '--data', cliDir, '--connect', m.url, 'insert', 'Party', JSON.stringify({ party_name: 'Before the failover' })]);
  assert.equal(before.code, 0, before.err);
  await openDoctype(b.page, 'Party');
  await row(b.page, 'Before the failover').waitFor({ timeout: 15000 });
  await waitFor('the browser to know the roster', async () =>
    (await b.page.evaluate(() => JSON.parse(localStorage.getItem('outpost.pairing') ?? '{}').roster ?? [])).includes(sbId),
  );

  // The master dies; the standby is promoted and serves the same address.
  m.proc.kill('SIGKILL');
  await waitFor('the browser to notice', async () => ['reconnecting', 'connecting'].includes(await linkState(b.page)));
  const p = await startMaster('Failover depot', { data: sbData, port: m.port, command: ['promote'] });
  assert.notEqual(p.fingerprint, m.fingerprint, 'another PC answers now');
  await waitFor('the browser to reconnect to the promoted standby', async () => (await linkState(b.page)) === 'connected', 45000);
  // It works on the same records, and sees new ones.
  const after = cli(['db', '--data', tempDir('cli-after'), '--connect', p.url, 'insert', 'Party', JSON.stringify({ party_name: 'After the failover' })]);
  assert.equal(after.code, 0, after.err);
  await openDoctype(b.page, 'Party');
  await row(b.page, 'After the failover').waitFor({ timeout: 15000 });
  await row(b.page, 'Before the failover').waitFor();
  const kept = await b.page.evaluate(() => JSON.parse(localStorage.getItem('outpost.pairing')));
  assert.equal(kept.fingerprint, p.fingerprint, 'the pairing now pins the promoted standby');
  await shot(b.page, 'b12-browser-after-failover');
  assert.deepEqual(b.errors, []);
}));
