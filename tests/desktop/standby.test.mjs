// The desktop window as the office's standby, as a user runs it: a real
// `outpost master` process, the window paired with it as a slave and made
// the standby on the master (`outpost devices standby ID`); its status bar
// shows the copy following. The master is killed; the window's "Make this
// PC the office's master" promotes it, and a CLI slave paired with the old
// master writes to the window-master without pairing again.
//
// Needs what desktop.test.mjs needs (see harness.mjs).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from './webdriver.mjs';
import { cli, cliMaster, openDoctype, openWindow, rowWithText, sel, shot, signIn, tempDir, withShots } from './harness.mjs';

test('the window as the standby: follows its master, shows it in the status bar, and once the master is killed becomes the master with a click', withShots(async () => {
  const m = await cliMaster('Standby Depot');
  const url = m.url.split('&code=')[0];
  const { s, data } = await openWindow('standby');

  // Paired as a slave, like any PC.
  await s.click(sel('nav-connect'));
  await s.fill(sel('connect-target'), m.url);
  await s.click(sel('connect-submit'));
  await s.waitText(sel('status-link'), (t) => /connected/i.test(t));
  await signIn(s);
  assert.equal(await s.find(sel('status-standby')), null, 'not the standby yet');

  // A CLI slave pairs and writes before anything else happens.
  const cliDir = tempDir('cli-standby-slave');
  const before = cli(['db', '--data', cliDir, '--connect', m.url, 'insert', 'Party', JSON.stringify({ party_name: 'Written before the kill' })]);
  assert.equal(before.code, 0, before.err);

  // The master makes this PC its standby: the window copies, then follows.
  const id = cli(['id', '--data', data]).out.trim();
  const made = cli(['devices', '--data', m.data, 'standby', id]);
  assert.equal(made.code, 0, made.err);
  await s.waitText(sel('status-standby'), (t) => /^Standby: following, 0 changes behind$/.test(t.trim()), 90000);

  // The window goes on working as a slave, and the CLI slave learns the
  // office's roster (this PC in it) as it writes.
  const also = cli(['db', '--data', cliDir, '--connect', url, 'insert', 'Party', JSON.stringify({ party_name: 'Also before the kill' })]);
  assert.equal(also.code, 0, also.err);
  await openDoctype(s, 'Party');
  await rowWithText(s, 'Also before the kill');

  // The status bar item opens the Standby screen with the promote button.
  await s.click(sel('status-standby'));
  await s.$(sel('promote'));
  await s.waitText(sel('standby-here-line'), (t) => /following, 0 changes behind/.test(t));
  assert.match(await s.text(sel('promote-hint')), /master answers now/);
  await new Promise((r) => setTimeout(r, 300));
  await shot(s, 'desktop-standby-following');

  // The master dies: the standby looks for it.
  m.proc.kill('SIGKILL');
  await s.waitText(sel('status-standby'), (t) => /^Standby: connecting$/.test(t.trim()), 60000);

  // "Make this PC the office's master": the confirmation says what it does.
  await s.click(sel('promote'));
  const dialog = await s.$(sel('confirm-dialog'));
  const warning = await dialog.text();
  assert.match(warning, /really gone/);
  assert.match(warning, /epoch/);
  assert.match(warning, /without pairing again/);
  await s.click(sel('confirm-ok'));

  // The window is the master's now: the Master screen, on the office's name.
  await s.waitText(sel('status-role'), (t) => /master/i.test(t), 60000);
  await s.waitText(sel('status-link'), (t) => /serving on/.test(t));
  assert.equal(await s.find(sel('status-standby')), null);
  // Its copy holds the office's users: the manager signs in on it.
  await signIn(s);
  await s.click(sel('nav-master'));
  await s.$(sel('pairing-url'));
  assert.match(await s.text(sel('status-bar')), /Standby Depot/);

  // The CLI slave, paired with the old master, writes to it by the old
  // master's URL without pairing again; everything is there.
  const after = cli(['db', '--data', cliDir, '--connect', url, 'insert', 'Party', JSON.stringify({ party_name: 'Written after the promotion' })]);
  assert.equal(after.code, 0, after.err);
  await openDoctype(s, 'Party');
  for (const name of ['Written before the kill', 'Also before the kill', 'Written after the promotion']) {
    await rowWithText(s, name);
  }
  await s.click(sel('nav-master'));
  await waitFor('the device list', () => s.find(sel('device-row')));
  await shot(s, 'desktop-standby-promoted');
}));
