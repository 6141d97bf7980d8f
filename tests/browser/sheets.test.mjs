// Spreadsheets in a browser slave (issue 15): the list's query is exported
// as CSV and XLSX (every page of it, made on the master and downloaded);
// a CSV with two bad rows is previewed with one error per bad row and its
// mapping guessed from the headers; "nothing unless every row is good"
// cannot run; "all good rows" stores the good ones and the list shows them;
// a Sale's lines go out one row per line with the Sale's key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, openBrowser, openDoctype, pair, shot, signIn, startMaster, tempDir, tid, withShots } from './harness.mjs';

test('a browser exports the list query to CSV and XLSX, and imports a CSV after a preview that names its bad rows', withShots(async () => {
  const m = await startMaster('Sheets depot');
  const seed = join(tempDir('seed'), 'seed.jsonl');
  const lines = [];
  for (let i = 0; i < 120; i++) lines.push(JSON.stringify({ party_name: `Seeded ${i}`, city: i % 2 ? 'Hotan' : 'Kashgar' }));
  writeFileSync(seed, lines.join('\n') + '\n');
  const seeded = cli(['db', '--data', m.data, 'import', 'Party', seed]);
  assert.equal(seeded.code, 0, seeded.err);

  const { page, errors } = await openBrowser('sheets');
  await page.goto(m.browser);
  await pair(page, m.code, 'Office laptop');
  await page.waitForSelector(`${tid('status-link')}[data-state="connected"]`);
  await signIn(page);
  await openDoctype(page, 'Party');

  // The query of the list, all pages (60 rows; the list shows 50 a page).
  await page.fill(tid('query-bar'), 'city:Kashgar');
  await page.press(tid('query-bar'), 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="row"]').length === 50);
  const [csv] = await Promise.all([page.waitForEvent('download'), page.click(tid('export-csv'))]);
  assert.equal(csv.suggestedFilename(), 'Party.csv');
  const text = readFileSync(await csv.path(), 'utf8');
  const rows = text.trim().split('\n');
  assert.equal(rows.length, 61, 'the header and every Kashgar party');
  assert.ok(rows.slice(1).every((r) => r.includes('Kashgar')));
  const [xlsx] = await Promise.all([page.waitForEvent('download'), page.click(tid('export-xlsx'))]);
  assert.equal(xlsx.suggestedFilename(), 'Party.xlsx');
  assert.equal(readFileSync(await xlsx.path()).subarray(0, 2).toString(), 'PK', 'an XLSX is a zip');

  // Import: a preview with the two bad rows named.
  const file = join(tempDir('import'), 'new parties.csv');
  writeFileSync(file, 'Party Name,Kind,City,Fax\nAcme,Customer,Aksu,1\n,Supplier,Hotan,2\nBazaar,Both,Aksu,3\nCamel Co,Customer,Yarkant,4\nDune,Alien,Aksu,5\n');
  await page.click(tid('import-open'));
  await page.setInputFiles(tid('import-file'), file);
  await page.waitForSelector(tid('import-errors'));
  const mapped = await page.$$eval(tid('import-map'), (s) => s.map((x) => x.value));
  assert.deepEqual(mapped, ['party_name', 'kind', 'city', ''], 'guessed from the headers; Fax skipped');
  const bad = await page.$$eval(`${tid('import-errors')} li`, (l) => l.map((x) => x.dataset.row));
  assert.deepEqual(bad, ['3', '6']);
  assert.match(await page.textContent(tid('import-summary')), /5 rows, 3 good, 2 with errors/);
  assert.ok(await page.isDisabled(tid('import-run')), 'all or nothing cannot run with bad rows');
  await shot(page, 'browser-import-preview');

  await page.check(tid('mode-good'));
  await page.click(tid('import-run'));
  await page.waitForSelector(tid('import-done'));
  assert.match(await page.textContent(tid('import-done')), /Imported 3 of 5 rows; 2 bad rows were left out/);
  const count = cli(['db', '--data', m.data, 'count', 'Party', 'city:Aksu']);
  assert.equal(count.out.trim(), '2');
  await page.click(tid('import-close'));

  // A Sale's lines go out one row per line, the Sale's key first.
  const insert = (doctype, record) => JSON.parse(cli(['db', '--data', m.data, 'insert', doctype, JSON.stringify(record)]).out.trim()).name;
  const party = insert('Party', { party_name: 'Line buyer' });
  const rice = insert('Product', { product_name: 'Rice 25kg' });
  const sale = insert('Sale', { party, lines: [{ product: rice, quantity: 2, unit_price: 30 }, { product: rice, quantity: 1, unit_price: 31 }] });
  await openDoctype(page, 'Sale');
  await page.selectOption(tid('export-what'), 'lines');
  const [linesCsv] = await Promise.all([page.waitForEvent('download'), page.click(tid('export-csv'))]);
  assert.equal(linesCsv.suggestedFilename(), 'Sale lines.csv');
  const lineRows = readFileSync(await linesCsv.path(), 'utf8').trim().split('\n');
  assert.match(lineRows[0], /^parent,product,quantity,unit_price/);
  assert.deepEqual(lineRows.slice(1).map((r) => r.split(',').slice(0, 4).join(',')), [`${sale},${rice},2.0,30.0`, `${sale},${rice},1.0,31.0`]);
  assert.deepEqual(errors, []);
}));
