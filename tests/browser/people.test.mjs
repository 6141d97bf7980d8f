// People in a browser slave (issue 14): an office whose master has users.
// The browser pairs, gets the sign-in screen, a wrong password is refused in
// words, the Clerk signs in, makes a Party and a Sale, sees no Delete, and a
// delete sent through the page's own API (the button bypassed) is refused
// `forbidden` by the master; a reload resumes the sign-in without asking.
// The same Party is changed by a CLI slave signed in as the manager, and
// `outpost db history` names both people and both devices. The Clerk
// changes his own password from the status bar; the page stays signed in,
// the old password no longer signs in anywhere. Made a Viewer while signed
// in, his page loses New within seconds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../desktop/webdriver.mjs';
import { cli, openBrowser, openDoctype, pair, pickLink, shot, startMaster, tempDir, tid, withShots } from './harness.mjs';

/** A password file (the CLI never takes a password on its command line). */
function passwordFile(text) {
  const f = join(tempDir('pw'), 'password');
  writeFileSync(f, `${text}\n`, { mode: 0o600 });
  return f;
}

test('a browser signs in as a Clerk: wrong password refused, no Delete, a direct delete forbidden, a reload resumes; history names the browser and the CLI', withShots(async () => {
  const managerPw = passwordFile('manager password');
  const m = await startMaster('People depot', { extra: ['--admin-password-file', managerPw] });
  const added = cli(['users', '--data', m.data, 'add', 'bilal', '--role', 'Clerk', '--password-file', passwordFile('clerk password')]);
  assert.equal(added.code, 0, added.err);
  const product = cli(['db', '--data', m.data, 'insert', 'Product', JSON.stringify({ product_name: 'Rice 25kg', code: 'RICE', list_price: 31.5 })]);
  assert.equal(product.code, 0, product.err);

  const { page, errors } = await openBrowser('people');
  await page.goto(m.browser);
  await pair(page, m.code, 'Counter tablet');
  await page.waitForSelector(`${tid('status-link')}[data-state="connected"]`);
  await page.click(tid('nav-records'));
  await page.waitForSelector(tid('signin-screen'));
  assert.equal(await page.getAttribute(tid('signin-reason'), 'data-why'), 'needed');

  // A wrong password, in words.
  await page.fill(tid('signin-user'), 'bilal');
  await page.fill(tid('signin-password'), 'not his password');
  await page.click(tid('signin-submit'));
  await page.waitForSelector(tid('signin-error'));
  assert.match(await page.textContent(tid('signin-error')), /wrong user name or password/i);
  await shot(page, 'browser-sign-in');

  await page.fill(tid('signin-password'), 'clerk password');
  await page.click(tid('signin-submit'));
  await page.waitForSelector(tid('status-user'));
  assert.match(await page.textContent(tid('status-user')), /bilal \(Clerk\)/);

  // A Party and a Sale for it.
  await openDoctype(page, 'Party');
  await page.click(tid('new-record'));
  await page.fill('[data-testid="form"] [data-field="party_name"]', 'Acme Trading');
  await page.click(tid('save'));
  await page.waitForSelector(`${tid('form-rev')}[data-rev="1"]`);
  const partyName = await page.getAttribute(tid('form'), 'data-name');
  assert.equal(await page.$(tid('delete')), null, 'a Clerk sees no Delete');
  await openDoctype(page, 'Sale');
  await page.click(tid('new-record'));
  await pickLink(page, '[data-testid="form"] input[data-field="party"]', 'Acme Trading');
  await page.click(tid('add-row-lines'));
  const line = `${tid('table-lines')} tr[data-idx="0"]`;
  await pickLink(page, `${line} input[data-child-field="product"]`, 'Rice 25kg');
  await page.fill(`${line} [data-child-field="quantity"]`, '2');
  await page.click(tid('save'));
  await page.waitForSelector(`${tid('form-rev')}[data-rev="1"]`);
  const saleName = await page.getAttribute(tid('form'), 'data-name');
  assert.equal(await page.$(tid('delete')), null, 'no Delete on the Sale either');

  // The page's own API, as the hidden button would call it: the master refuses.
  const refused = await page.evaluate(async (name) => {
    try {
      await globalThis.outpost.api.delete('Sale', name);
      return null;
    } catch (e) {
      return { code: e.code, message: e.message };
    }
  }, saleName);
  assert.equal(refused?.code, 'forbidden', JSON.stringify(refused));
  assert.match(refused.message, /Clerk may not delete Sale/);

  // A reload resumes the sign-in (sessionStorage), without the sign-in screen.
  await page.reload();
  await page.waitForSelector(tid('status-user'));
  assert.equal(await page.$(tid('signin-screen')), null);
  await openDoctype(page, 'Party');
  await page.locator(tid('row'), { hasText: 'Acme Trading' }).first().waitFor();

  // The Party changed from the browser and from a CLI slave (the manager).
  await page.locator(tid('row'), { hasText: 'Acme Trading' }).first().click();
  await page.fill('[data-testid="form"] [data-field="city"]', 'Yarkant');
  await page.click(tid('save'));
  await page.waitForSelector(`${tid('form-rev')}[data-rev="2"]`);
  const cliDir = tempDir('cli-slave');
  const up = cli(['db', '--data', cliDir, '--connect', m.url, '--user', 'manager', '--password-file', managerPw, 'update', 'Party', partyName, JSON.stringify({ rev: 2, city: 'Kashgar' })]);
  assert.equal(up.code, 0, up.err);
  // The open form, unchanged here, follows the master.
  await page.waitForSelector(`${tid('form-rev')}[data-rev="3"]`);
  await page.click(tid('tab-history'));
  await waitFor('three entries in the History tab', async () => (await page.$$(tid('history-entry'))).length === 3);
  const users = await page.$$eval(tid('history-user'), (els) => els.map((e) => e.textContent));
  assert.deepEqual(users, ['manager', 'bilal', 'bilal'], 'newest first');
  const devices = await page.$$eval(tid('history-device'), (els) => els.map((e) => e.textContent));
  assert.equal(devices[1], 'Counter tablet');

  const history = cli(['db', '--data', m.data, 'history', 'Party', partyName]);
  assert.equal(history.code, 0, history.err);
  const entries = history.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(entries.map((e) => e.user), ['bilal', 'bilal', 'manager']);
  assert.equal(entries[0].device_name, 'Counter tablet');
  assert.notEqual(entries[2].device, entries[0].device, 'the CLI slave is another device');

  // Bilal changes his own password from the page: the current one first.
  const bilalCli = tempDir('cli-bilal');
  const asBilal = (pw) => cli(['db', '--data', bilalCli, '--connect', m.url, '--user', 'bilal', '--password-file', passwordFile(pw), 'count', 'Party']);
  assert.equal(asBilal('clerk password').code, 0);
  await page.click(tid('change-password'));
  await page.fill(tid('password-current'), 'not his password');
  await page.fill(tid('password-new'), 'a longer clerk password');
  await page.fill(tid('password-new2'), 'a longer clerk password');
  await page.click(tid('password-save'));
  await page.waitForSelector(`${tid('password-error')}[data-error-for="current"]`);
  assert.match(await page.textContent(tid('password-error')), /current password is wrong/);
  await page.fill(tid('password-current'), 'clerk password');
  await page.click(tid('password-save'));
  await page.waitForSelector(tid('password-changed'));
  assert.equal(await page.$(tid('password-dialog')), null);
  // This page stays signed in; his other sign-ins and the old password end.
  await page.reload();
  await page.waitForSelector(tid('status-user'));
  assert.match(await page.textContent(tid('status-user')), /bilal \(Clerk\)/);
  const old = asBilal('clerk password');
  assert.notEqual(old.code, 0);
  assert.match(old.err, /wrong user name or password/);
  assert.equal(asBilal('a longer clerk password').code, 0);

  // A manager makes him a Viewer while he is signed in: the page follows
  // within seconds, without signing in again (New goes away).
  await openDoctype(page, 'Party');
  await page.waitForSelector(tid('new-record'));
  const demoted = cli(['users', '--data', m.data, 'role', 'bilal', '--role', 'Viewer']);
  assert.equal(demoted.code, 0, demoted.err);
  await page.locator(tid('status-user'), { hasText: 'bilal (Viewer)' }).waitFor({ timeout: 30000 });
  await page.waitForSelector(tid('new-record'), { state: 'detached' });
  assert.equal(await page.$(tid('signin-screen')), null);
  assert.deepEqual(errors, []);
}));
