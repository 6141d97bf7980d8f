// People in the desktop window (issue 14).
//
// 1. The window as a slave of an office with users (a CLI master started
//    with --admin-password-file, a Clerk added with `outpost users add`):
//    it opens on the sign-in screen; a wrong password is refused in words;
//    the Clerk makes a Party and a Sale, sees no Delete, and a delete sent
//    through the window's own db call API is refused `forbidden`; the same
//    Party is changed from the window, a Chromium slave and a CLI slave, and
//    its History tab and `outpost db history` show the three people and
//    devices; Switch user → the manager sees Delete.
// 2. The window as the master: turning master mode on asks for the first
//    manager (a blank or short password, a blank name, each refused beside
//    its field; nothing starts); the window then signs in as that manager
//    by itself, whose Master screen has the Users section.
// 3. An office found without users at start (made before every office had
//    a manager): the window asks for its first manager instead of starting
//    open, then signs in and works on its records.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from './webdriver.mjs';
import { cli, fillSignIn, openDoctype, openWindow, pickLink, rowWithText, sel, shot, tempDir, withShots } from './harness.mjs';
import { openBrowser, pair, openDoctype as pageDoctype, signIn as signInPage, tid, startMaster } from '../browser/harness.mjs';

function passwordFile(text) {
  const f = join(tempDir('pw'), 'password');
  writeFileSync(f, `${text}\n`, { mode: 0o600 });
  return f;
}

test('the window as a slave of an office with users: sign-in, a Clerk without Delete, a direct delete forbidden, history from three places, Switch user', withShots(async () => {
  const managerPw = passwordFile('manager password');
  const m = await startMaster('People HQ', { extra: ['--admin-password-file', managerPw] });
  assert.equal(cli(['users', '--data', m.data, 'add', 'bilal', '--role', 'Clerk', '--password-file', passwordFile('clerk password')]).code, 0);
  assert.equal(cli(['db', '--data', m.data, 'insert', 'Product', JSON.stringify({ product_name: 'Rice 25kg', code: 'RICE', list_price: 31.5 })]).code, 0);

  const { s } = await openWindow('people-slave');
  await s.click(sel('nav-connect'));
  await s.fill(sel('connect-target'), m.url);
  await s.click(sel('connect-submit'));
  await s.waitText(sel('status-link'), (t) => /connected/i.test(t));
  await s.click(sel('nav-records'));
  await s.$(sel('signin-screen'));

  await fillSignIn(s, 'bilal', 'not his password');
  assert.match(await s.waitText(sel('signin-error'), (t) => /wrong/i.test(t)), /wrong user name or password/i);
  await shot(s, 'desktop-sign-in');
  await s.fill(sel('signin-password'), 'clerk password');
  await s.click(sel('signin-submit'));
  await s.waitText(sel('status-user'), 'bilal (Clerk)');

  await openDoctype(s, 'Party');
  await s.click(sel('new-record'));
  await s.fill('[data-testid="form"] [data-field="party_name"]', 'Acme Trading');
  await s.click(sel('save'));
  await s.waitText(sel('form-rev'), '1');
  const party = await s.execute('return document.querySelector("[data-testid=form]").dataset.name');
  assert.equal(await s.find(sel('delete')), null, 'a Clerk sees no Delete');

  await openDoctype(s, 'Sale');
  await s.click(sel('new-record'));
  await pickLink(s, '[data-testid="form"] input[data-field="party"]', 'Acme Trading');
  await s.click(sel('add-row-lines'));
  const line = `${sel('table-lines')} tr[data-idx="0"]`;
  await pickLink(s, `${line} input[data-child-field="product"]`, 'Rice 25kg');
  await s.fill(`${line} [data-child-field="quantity"]`, '2');
  await s.click(sel('save'));
  await s.waitText(sel('form-rev'), '1');
  const sale = await s.execute('return document.querySelector("[data-testid=form]").dataset.name');
  assert.equal(await s.find(sel('delete')), null);
  // The window's own db call API, as the hidden button would use it.
  const refused = await s.execute(
    'return globalThis.outpost.api.delete("Sale", arguments[0]).then(() => null, (e) => ({code: e.code, message: e.message}))',
    [sale],
  );
  assert.equal(refused?.code, 'forbidden', JSON.stringify(refused));

  // The Party changed from the window, a browser (the manager) and a CLI slave (the manager).
  await openDoctype(s, 'Party');
  await (await rowWithText(s, 'Acme Trading')).click();
  await s.fill('[data-testid="form"] [data-field="city"]', 'Yarkant');
  await s.click(sel('save'));
  await s.waitText(sel('form-rev'), '2');
  const { page } = await openBrowser('people-desktop');
  await page.goto(m.browser);
  await pair(page, m.code, 'Counter tablet');
  await page.waitForSelector(`${tid('status-link')}[data-state="connected"]`);
  await signInPage(page, { user: 'manager', password: 'manager password' });
  await pageDoctype(page, 'Party');
  await page.locator(tid('row'), { hasText: 'Acme Trading' }).first().click();
  await page.fill('[data-testid="form"] [data-field="city"]', 'Hotan');
  await page.click(tid('save'));
  await page.waitForSelector(`${tid('form-rev')}[data-rev="3"]`);
  const up = cli(['db', '--data', tempDir('cli-slave'), '--connect', m.url, '--user', 'manager', '--password-file', managerPw, 'update', 'Party', party, JSON.stringify({ rev: 3, city: 'Kashgar' })]);
  assert.equal(up.code, 0, up.err);
  await s.waitText(sel('form-rev'), '4');
  await s.click(sel('tab-history'));
  await waitFor('four entries in the History tab', async () => (await s.findAll(sel('history-entry'))).length === 4);
  const who = await s.execute('return [...document.querySelectorAll("[data-testid=history-user]")].map((e) => e.textContent)');
  assert.deepEqual(who, ['manager', 'manager', 'bilal', 'bilal']);
  const devices = await s.execute('return [...document.querySelectorAll("[data-testid=history-entry]")].map((e) => e.dataset.device)');
  assert.equal(new Set(devices.slice(0, 3)).size, 3, `three devices: ${devices}`);
  await shot(s, 'desktop-history');
  const history = cli(['db', '--data', m.data, 'history', 'Party', party]);
  const entries = history.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(entries.map((e) => e.user), ['bilal', 'bilal', 'manager', 'manager']);
  assert.equal(entries[2].device_name, 'Counter tablet');

  // Switch user: the manager signs in here and may delete.
  await s.click(sel('switch-user'));
  await fillSignIn(s, 'manager', 'manager password');
  await s.waitText(sel('status-user'), 'manager (Manager)');
  await openDoctype(s, 'Party');
  await (await rowWithText(s, 'Acme Trading')).click();
  await s.$(sel('delete'));
}));

test('the window as the master: the first manager asked when master mode is turned on, then signed in with the Users section', withShots(async () => {
  const port = await freePort();
  const { s } = await openWindow('people-master', { OUTPOST_PORT: String(port) });
  await s.click(sel('nav-settings'));
  await s.click(sel('master-toggle'));
  await s.fill(sel('office-name'), 'People Depot');
  await s.$(sel('first-manager'));
  // A blank password is refused beside its field: no office without users.
  await s.fill(sel('manager-name'), 'amina');
  await s.click(sel('office-name-ok'));
  assert.match(await s.waitText('[data-error-for="manager_password"]', 'password'), /Give the first manager a password/);
  await shot(s, 'desktop-first-manager-blank');
  // A blank name too.
  await s.fill(sel('manager-name'), ' ');
  await s.fill(sel('manager-password'), 'amina password');
  await s.fill(sel('manager-password2'), 'amina password');
  await s.click(sel('office-name-ok'));
  await s.waitText('[data-error-for="manager_name"]', 'name');
  assert.equal(await s.find(sel('status-user')), null);
  await s.fill(sel('manager-name'), 'amina');
  await s.fill(sel('manager-password'), 'short');
  await s.fill(sel('manager-password2'), 'short');
  await s.click(sel('office-name-ok'));
  assert.match(await s.waitText('[data-error-for="manager_password"]', 'short'), /too short/);
  assert.match(await s.text(sel('status-role')), /not set up/i, 'nothing started');
  await s.fill(sel('manager-password'), 'amina password');
  await s.fill(sel('manager-password2'), 'amina password');
  await s.click(sel('office-name-ok'));
  await s.waitText(sel('status-role'), (t) => /master/i.test(t));
  // The window signs in as the manager just made, by itself.
  await s.waitText(sel('status-user'), 'amina (Manager)');

  await s.click(sel('nav-master'));
  await s.$(sel('users-panel'));
  await s.fill(sel('user-add-name'), 'bilal');
  await s.fill(sel('user-add-password'), 'clerk password');
  await s.fill(sel('user-add-password2'), 'clerk password');
  await s.click(sel('user-add'));
  await s.waitText(sel('user-add-done'), 'bilal');
  await s.$('[data-testid="user-row"][data-name="bilal"]');
  await s.execute('document.querySelector("[data-testid=users-panel]").scrollIntoView({block: "start"})');
  await shot(s, 'desktop-users');
  // What each role may do, not only its name.
  const clerk = await s.text('[data-testid="role-row"][data-role="Clerk"]');
  assert.match(clerk, /Party, Product, Sale: read, create, write/);
  assert.match(clerk, /Everything else: read/);
  assert.match(await s.text('[data-testid="role-row"][data-role="Manager"]'), /Every record: read, create, write, delete.*devices, master settings, head office, users, backups/);
  assert.match(await s.text('[data-testid="role-row"][data-role="Viewer"]'), /Every record: read(?!,).*none$/);
  await s.execute('document.querySelector("[data-testid=roles]").scrollIntoView({block: "center"})');
  await shot(s, 'desktop-roles');

  // The idle lock set here reaches this window within seconds (no new
  // sign-in); left alone for that minute, the window locks and asks amina
  // again, her name filled in.
  await s.fill(sel('idle-lock-minutes'), '1');
  await s.click(sel('idle-lock-save'));
  await s.waitText(sel('idle-lock-message'), 'lock after 1 idle minute');
  await s.$(sel('signin-screen'), 120000);
  assert.equal(await s.attr(sel('signin-reason'), 'data-why'), 'locked');
  assert.equal(await s.execute('return document.querySelector("[data-testid=signin-user]").value'), 'amina');
  await shot(s, 'desktop-idle-locked');
  await s.fill(sel('signin-password'), 'amina password');
  await s.click(sel('signin-submit'));
  await s.waitText(sel('status-user'), 'amina (Manager)');


}));

test('an office made before every office had a manager: the window asks for its first manager at start, then signs in', withShots(async () => {
  // Its database without users, and Settings saying this PC is its master.
  const port = await freePort();
  const data = tempDir('old-office');
  assert.equal(cli(['db', '--data', data, 'insert', 'Party', JSON.stringify({ party_name: 'Old customer' })]).code, 0);
  writeFileSync(join(data, 'settings.json'), JSON.stringify({ role: 'master', office_name: 'Old Depot', port }));
  const { s } = await openWindow('old-office', { OUTPOST_DATA: data });
  await s.$(sel('first-manager-screen'));
  assert.equal(await s.execute('return document.querySelector("[data-testid=status-link]").dataset.state'), 'no_manager');
  await s.waitText(sel('status-link'), 'first manager');
  await s.click(sel('first-manager-ok'));
  assert.match(await s.waitText('[data-error-for="manager_password"]', 'password'), /Give the first manager a password/);
  await s.fill(sel('manager-password'), 'old depot password');
  await s.fill(sel('manager-password2'), 'old depot password');
  await shot(s, 'desktop-first-manager-at-start');
  await s.click(sel('first-manager-ok'));
  await s.waitText(sel('status-user'), 'manager (Manager)');
  await s.waitText(sel('status-link'), `serving on`);
  await openDoctype(s, 'Party');
  await rowWithText(s, 'Old customer');
}));
