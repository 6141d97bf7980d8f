// Updates from the master (issue 17): a window running an older Outpost
// than its master (same protocol) works, shows that an update is available
// with the master's install page, and "Install the update" downloads the
// master's package over the LAN, checks its SHA-256, and starts the
// installer on it.
//
// The installer here is a script that writes down what it was given
// (OUTPOST_INSTALLER): the system's (pkexec apt install) would ask for an
// administrator's password and change this machine. The package is the
// real .deb when OUTPOST_DEB names it (scripts/test), else a small one made
// with dpkg-deb under Outpost's name and version.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { waitFor } from './webdriver.mjs';
import { cli, cliMaster, openWindow, sel, shot, signIn, tempDir, withShots } from './harness.mjs';

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Puts the package in `dir` (the master's packages folder). */
function shelve(dir, version) {
  mkdirSync(dir, { recursive: true });
  if (process.env.OUTPOST_DEB) {
    const to = join(dir, basename(process.env.OUTPOST_DEB));
    copyFileSync(process.env.OUTPOST_DEB, to);
    return to;
  }
  const root = tempDir('pkg');
  mkdirSync(join(root, 'DEBIAN'));
  writeFileSync(
    join(root, 'DEBIAN/control'),
    `Package: outpost\nVersion: ${version}\nArchitecture: amd64\nMaintainer: Outpost tests <tests@outpost.invalid>\nDescription: a stand-in package for this test\n`,
  );
  const to = join(dir, `Outpost_${version}_amd64.deb`);
  const r = spawnSync('dpkg-deb', ['--root-owner-group', '--build', root, to], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return to;
}

test('an older window hears of the update on its master, and installs the checked package', withShots(async () => {
  const m = await cliMaster('Update depot');
  const version = cli(['--version']).out.trim().split(' ').pop();
  const deb = shelve(join(m.data, 'packages'), version);
  const home = tempDir('update-home');
  const calls = join(tempDir('installer'), 'calls');
  const installer = join(tempDir('installer-bin'), 'installer');
  writeFileSync(installer, `#!/bin/sh\necho "$@" >> ${calls}\n`);
  chmodSync(installer, 0o755);

  // This PC runs 0.0.1: the master's version is newer, the protocol the same.
  const { s } = await openWindow('old', { OUTPOST_APP_VERSION: '0.0.1', OUTPOST_INSTALLER: installer, HOME: home });
  await s.click(sel('nav-connect'));
  await s.fill(sel('connect-target'), m.url);
  await s.click(sel('connect-submit'));
  await s.waitText(sel('status-link'), (t) => /connected/i.test(t));
  await signIn(s);
  const banner = await s.waitText(sel('update-banner'), (t) => t.includes('An update is available from the master'));
  assert.match(banner, new RegExp(`Outpost ${version.replace(/\./g, '\\.')} \\(this PC has 0\\.0\\.1\\)`));
  const port = new URL(m.url.replace('outpost://', 'http://')).port;
  assert.equal(await (await s.find(sel('update-url'))).text(), `http://127.0.0.1:${port}/install/`);
  // It works all the same.
  await s.click(sel('nav-records'));
  await s.waitText(sel('status-link'), (t) => /connected/i.test(t));
  await shot(s, '40-update-available');

  await s.click(sel('update-install'));
  const started = await s.waitText(sel('update-started'), (t) => t.includes('the installer is running'));
  await shot(s, '41-update-installing');
  // Saved in the desktop's Downloads folder (here the test's empty home).
  await waitFor('the installer to be started', async () => existsSync(calls));
  const saved = readFileSync(calls, 'utf8').trim();
  assert.ok(saved.startsWith(home) && basename(saved) === basename(deb), `the installer was given the downloaded package: ${saved}`);
  assert.ok(started.includes(saved), started);
  assert.equal(sha256(saved), sha256(deb), 'the package arrived whole');
  assert.ok(started.includes(sha256(deb).slice(0, 16)), started);
}));

test('a window of the same version is told of no update', withShots(async () => {
  const m = await cliMaster('Current depot');
  shelve(join(m.data, 'packages'), cli(['--version']).out.trim().split(' ').pop());
  const { s } = await openWindow('current');
  await s.click(sel('nav-connect'));
  await s.fill(sel('connect-target'), m.url);
  await s.click(sel('connect-submit'));
  await s.waitText(sel('status-link'), (t) => /connected/i.test(t));
  await signIn(s);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await s.find(sel('update-banner')), null);
}));
