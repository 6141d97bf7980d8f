// A phone joins by pointing its camera at the master: `outpost master`
// draws a second QR code holding the browser address with the pairing
// code and the master's fingerprint in the fragment. The test reads that
// QR code from the terminal's text as a camera would, opens what it holds
// in the browser under test, and pairs; a QR code naming another master
// fills nothing in.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../desktop/webdriver.mjs';
import { startMaster, openBrowser, withShots, tid, shot, signIn, linkState, cli } from './harness.mjs';
import { terminalQrAfter } from './qr.mjs';

test('a phone opens the URL of the master\'s phone QR code: the code is filled in, the fingerprint checked, and it pairs', withShots(async () => {
  const m = await startMaster('Kashgar depot');
  await waitFor('the master to print the phone address', async () => m.out().includes('Phone address:'));
  const url = terminalQrAfter(m.out(), 'A phone or tablet');
  assert.ok(url, 'the phone QR code reads back');
  assert.equal(url, m.out().match(/^Phone address: (\S+)$/m)[1]);
  const { origin, pathname, search, hash } = new URL(url);
  assert.equal(`${origin}${pathname}`, m.browser);
  assert.equal(search, '', 'nothing of the invite in the request line');
  const invite = new URLSearchParams(hash.slice(1));
  assert.equal(invite.get('fp'), m.fingerprint);
  assert.equal(invite.get('pair').replace('-', ''), m.code.replace('-', ''));

  const phone = await openBrowser('phone');
  await phone.page.goto(url);
  await phone.page.locator(tid('connect-message'), { hasText: 'its fingerprint matches' }).waitFor();
  assert.equal(await phone.page.inputValue(tid('connect-code')), invite.get('pair'));
  // The code left the address bar (and the history) once read.
  assert.equal(await phone.page.evaluate(() => location.hash), '');
  await shot(phone.page, 'b30-phone-invite');
  await phone.page.fill(tid('device-name'), 'Store phone');
  await phone.page.click(tid('connect-submit'));
  await phone.page.locator(tid('connect-message'), { hasText: 'Paired with Kashgar depot' }).waitFor();
  assert.equal(await linkState(phone.page), 'connected');
  await signIn(phone.page);
  const devices = cli(['devices', '--data', m.data]).out.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(devices.some((d) => d.name === 'Store phone'), JSON.stringify(devices));

  // A QR code that names another master's fingerprint: refused in words,
  // nothing filled in.
  const other = await openBrowser('phone-other');
  const wrong = url.replace(m.fingerprint, 'ab'.repeat(32));
  await other.page.goto(wrong);
  await other.page.locator(tid('connect-message'), { hasText: 'The QR code names another master' }).waitFor();
  assert.equal(await other.page.inputValue(tid('connect-code')), '');
  assert.equal(await other.page.evaluate(() => window.__peerConnections), 0);
}));
