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
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './webdriver.mjs';
import { CLI, cleanups, cli, cliMaster, makeMaster, openDoctype, openWindow, rowWithText, sel, shot, signIn, tempDir, withShots } from './harness.mjs';

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

// The window as the office's master with a CLI standby: the Master screen
// says how writes are answered and changes it; a standby away is said in
// red, and a master set to refuse refuses. The standby is promoted while
// the window's master still runs (a network cut, say): a slave that met the
// new master tells the window's master, which stops taking writes and says
// so; "Join the new master" turns it into a PC of the new master's office,
// made its standby there: it follows from a fresh copy, and the write only
// it took is listed aside, not merged.
test('the window as the master: writes on both PCs or not, said on screen; replaced by its promoted standby, it stops writing and joins the new master as its standby', withShots(async () => {
  const { s, data } = await openWindow('fenced-master');
  await makeMaster(s, 'Fence Depot');
  await s.click(sel('nav-master'));
  const url = (await s.text(sel('pairing-url'))).trim();
  const plain = url.split('&code=')[0];

  // A CLI PC pairs, and is made the standby with the device list's button.
  const sb = tempDir('cli-standby');
  const paired = cli(['db', '--data', sb, '--connect', url, 'count', 'Party']);
  assert.equal(paired.code, 0, paired.err);
  const sbId = cli(['id', '--data', sb]).out.trim();
  await s.click(`[data-testid="device-row"][data-fingerprint="${sbId}"] [data-testid="make-standby"]`);
  await s.click(sel('confirm-ok'));
  await s.waitText(sel('standby-line'), (t) => /away/.test(t));
  const standby = () => {
    const proc = spawn(CLI, ['standby', '--data', sb, '--connect', plain], { stdio: ['ignore', 'ignore', 'ignore'] });
    cleanups.push(() => proc.exitCode === null && proc.kill('SIGKILL'));
    return proc;
  };
  let sbProc = standby();
  await s.waitText(sel('standby-line'), (t) => /following, 0 changes behind/.test(t), 60000);

  // Writes answered once the standby has them too.
  await s.waitAttr(sel('writes-now'), 'data-mode', 'at_commit');
  await s.select(sel('durability'), 'sync');
  await s.waitAttr(sel('writes-now'), 'data-mode', 'on_both');
  const slave = tempDir('cli-slave');
  const w1 = cli(['db', '--data', slave, '--connect', url, 'insert', 'Party', JSON.stringify({ party_name: 'On both PCs' })]);
  assert.equal(w1.code, 0, w1.err);
  await shot(s, 'desktop-master-writes-on-both');

  // The standby goes away: the screen says writes are on this PC alone.
  sbProc.kill('SIGKILL');
  await s.waitAttr(sel('writes-now'), 'data-mode', 'alone_standby_away', 30000);
  assert.match(await s.text(sel('writes-now')), /standby is away: writes are answered on this PC alone/);
  const w2 = cli(['db', '--data', slave, '--connect', plain, 'insert', 'Party', JSON.stringify({ party_name: 'On the master alone' })]);
  assert.equal(w2.code, 0, w2.err);
  await shot(s, 'desktop-master-standby-away');
  // Set to refuse while it is away: a write is refused, in words.
  await s.select(sel('when-away'), 'refuse');
  await s.waitAttr(sel('writes-now'), 'data-mode', 'refused_standby_away');
  const w3 = cli(['db', '--data', slave, '--connect', plain, 'insert', 'Party', JSON.stringify({ party_name: 'Refused' })]);
  assert.notEqual(w3.code, 0);
  assert.match(w3.err, /the standby is away/);
  await s.select(sel('when-away'), 'go_async');
  await s.select(sel('durability'), 'async');
  await s.waitAttr(sel('writes-now'), 'data-mode', 'at_commit');

  // A second PC pairs; it will not hear of what comes.
  const unaware = tempDir('cli-unaware');
  assert.equal(cli(['db', '--data', unaware, '--connect', url, 'count', 'Party']).code, 0);

  // The standby comes back, catches up, and the slave learns the roster.
  sbProc = standby();
  await s.waitText(sel('standby-line'), (t) => /following, 0 changes behind/.test(t), 60000);
  assert.equal(cli(['db', '--data', slave, '--connect', plain, 'count', 'Party']).code, 0);

  // The office loses sight of the window's master: its standby is promoted.
  sbProc.kill('SIGKILL');
  const next = await cliMaster('Fence Depot', { promote: sb });
  // The slave meets the new master, then tells the old one.
  assert.equal(cli(['db', '--data', slave, '--connect', next.url.split('&code=')[0], 'count', 'Party']).code, 0);
  // A write only the window's master takes, from a PC that has not heard.
  const stray = cli(['db', '--data', unaware, '--connect', plain, 'insert', 'Party', JSON.stringify({ party_name: 'Stray at the old master' })]);
  assert.equal(stray.code, 0, stray.err);
  const told = cli(['db', '--data', slave, '--connect', plain, '--timeout', '4', 'insert', 'Party', JSON.stringify({ party_name: 'Split brain' })]);
  assert.notEqual(told.code, 0);
  await s.$(sel('fenced'));
  assert.match(await s.text(sel('fenced')), /A standby was promoted in this PC's place \(epoch 1\): this PC takes no writes/);
  await shot(s, 'desktop-master-fenced');

  // "Join the new master": master mode off, then Connect to it.
  await s.click(sel('fenced-join'));
  assert.match(await (await s.$(sel('confirm-dialog'))).text(), /stray-writes/);
  await s.click(sel('confirm-ok'));
  await s.$(sel('connect-target'));
  await s.fill(sel('connect-target'), next.url);
  await s.click(sel('connect-submit'));
  await s.waitText(sel('status-link'), (t) => /connected/i.test(t));
  await signIn(s);
  const winId = cli(['id', '--data', data]).out.trim();
  const made = cli(['devices', '--data', sb, 'standby', winId]);
  assert.equal(made.code, 0, made.err);
  await s.waitText(sel('status-standby'), (t) => /^Standby: following, 0 changes behind$/.test(t.trim()), 90000);
  await shot(s, 'desktop-fenced-rejoined');
  // The stray write is listed aside; the office never sees it.
  const strays = readdirSync(data).filter((f) => f.startsWith('stray-writes-'));
  assert.equal(strays.length, 1, `${readdirSync(data)}`);
  assert.match(readFileSync(join(data, strays[0]), 'utf8'), /"doctype":"Party"/);
  // ... and named on the Standby screen.
  await s.click(sel('status-standby'));
  const listed = await s.waitText(sel('stray-writes'), strays[0]);
  assert.match(listed, /1 write, listed in/);
  await shot(s, 'desktop-stray-writes');
  const names = cli(['db', '--data', slave, '--connect', next.url.split('&code=')[0], 'query', 'Party', '--fields', 'party_name']);
  assert.equal(names.code, 0, names.err);
  assert.doesNotMatch(names.out, /Stray at the old master|Split brain/);
  assert.match(names.out, /On the master alone/);
}));
