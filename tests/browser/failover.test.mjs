// A browser that opened the office by its LAN name follows a failover to
// a standby on another PC (another address), without pairing again: the
// page's origin is the office's name, so its pairing (localStorage and
// certificate, both per origin) is still there when the name points at the
// promoted standby.
//
// The name moving over mDNS is tested on a real LAN of namespaces
// (tests/tests/lan_failover.rs asks where `outpost-failover-depot.local`
// points before and after a promotion). Here the browser's resolver is told
// where the name points (harness `hosts`) in place of the OS's `.local`
// resolver, which this machine's browsers do not have; the two "PCs" are
// two loopback addresses, 127.0.0.1 and 127.0.0.2.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../desktop/webdriver.mjs';
import { cli, tempDir, startMaster, startStandby, openBrowser, withShots, pair, signIn, linkState, openDoctype, row, shot } from './harness.mjs';

const NAME = 'outpost-failover-depot.local';

test('a browser that opened the office by its name follows it to the standby promoted on another PC, without pairing again', withShots(async () => {
  const m = await startMaster('Failover depot', { extra: ['--durability', 'sync'] });
  const sbData = tempDir('standby-by-name');
  const sbId = await startStandby(m, sbData);

  // The tablet opens the office by its name (pointing at the master) and pairs.
  const byName = `http://${NAME}:${m.port}/`;
  let b = await openBrowser('by-name', { hosts: { [NAME]: '127.0.0.1' } });
  await b.page.goto(byName);
  await pair(b.page, m.code, 'Counter tablet');
  await waitFor('the browser to connect', async () => (await linkState(b.page)) === 'connected');
  await signIn(b.page);
  const before = cli(['db', '--data', tempDir('cli-by-name'), '--connect', m.url, 'insert', 'Party', JSON.stringify({ party_name: 'Before the failover' })]);
  assert.equal(before.code, 0, before.err);
  await openDoctype(b.page, 'Party');
  await row(b.page, 'Before the failover').waitFor({ timeout: 15000 });
  await waitFor('the browser to know the roster', async () =>
    (await b.page.evaluate(() => JSON.parse(localStorage.getItem('outpost.pairing') ?? '{}').roster ?? [])).includes(sbId),
  );
  const { profile } = b;
  await b.ctx.close();

  // The master PC dies; the standby PC (another address, the office's port)
  // is promoted, and the office's name points at it now.
  m.proc.kill('SIGKILL');
  const p = await startMaster('Failover depot', { data: sbData, port: m.port, listen: '127.0.0.2', command: ['promote'] });
  assert.match(p.url, /127\.0\.0\.2/);
  b = await openBrowser('by-name', { profile, hosts: { [NAME]: '127.0.0.2' } });
  await b.page.goto(byName);
  await waitFor('the browser to connect to the promoted standby', async () => (await linkState(b.page)) === 'connected', 45000);
  const kept = await b.page.evaluate(() => JSON.parse(localStorage.getItem('outpost.pairing')));
  assert.equal(kept.fingerprint, p.fingerprint, 'the pairing now pins the promoted standby');
  const after = cli(['db', '--data', tempDir('cli-by-name-after'), '--connect', p.url, 'insert', 'Party', JSON.stringify({ party_name: 'After the failover' })]);
  assert.equal(after.code, 0, after.err);
  // A browser closed and opened again signs in again; the promoted copy
  // has the office's people.
  await signIn(b.page);
  await openDoctype(b.page, 'Party');
  await row(b.page, 'After the failover').waitFor({ timeout: 15000 });
  await row(b.page, 'Before the failover').waitFor();
  await shot(b.page, 'b13-browser-by-name-after-failover');
  assert.deepEqual(b.errors, []);
}));
