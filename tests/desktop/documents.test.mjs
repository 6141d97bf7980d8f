// Paper and pictures in the desktop window (issue 15). The window is the
// master; a CLI slave (another process, over WebRTC) enters the sales.
// - Settings → Documents: the office address is saved, and the invoice
//   the window saves as PDF carries it with the party, every line and the
//   total (read back with pdftotext).
// - Home: today's count and the last 30 days as a chart; Reports: sales by
//   party as bars, with the totals summed here by hand, largest first.
// - Records: a Sale's lines exported as XLSX into Downloads, and a CSV of
//   lines imported through the preview.
// Screenshots: desktop-office-address, desktop-print, desktop-home,
// desktop-reports, desktop-import-preview.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from './webdriver.mjs';
import { daysAgo } from '../browser/harness.mjs';
import { cli, makeMaster, openDoctype, openWindow, rowWithText, sel, shot, tempDir, withShots } from './harness.mjs';

test('the window saves an invoice with the office address, charts the sales, and moves lines in and out of spreadsheets', withShots(async () => {
  const port = await freePort();
  // Downloads: the desktop's folder, here an empty home of the test's own.
  const home = tempDir('home');
  const { s } = await openWindow('documents', { OUTPOST_PORT: String(port), HOME: home });
  await makeMaster(s, 'Documents Depot');

  // Settings → Documents: the address its documents print.
  await s.click(sel('nav-settings'));
  // Two lines: Enter (U+E007) between them, as a person types it.
  await s.fill(sel('office-address'), '12 Silk Road\uE007Kashgar 844000');
  await s.click(sel('office-address-save'));
  await s.waitText(sel('office-address-message'), 'Saved');
  await s.execute('document.querySelector(arguments[0]).scrollIntoView({ block: "center" });', [sel('office-address')]);
  await shot(s, 'desktop-office-address');

  // The sales, entered by a CLI slave.
  await s.click(sel('nav-master'));
  const shown = await s.waitText(sel('pairing-url'), 'outpost://');
  const url = shown.trim().replace(/^outpost:\/\/(\[[^\]]*\]|[^:/]+)/, 'outpost://127.0.0.1');
  const slave = tempDir('cli-slave');
  const insert = (doctype, record) => {
    const r = cli(['db', '--data', slave, '--connect', url, 'insert', doctype, JSON.stringify(record)]);
    assert.equal(r.code, 0, r.err);
    return r.json.name;
  };
  const parties = ['Acme Trading', 'Borax Mining', 'Cobalt Ltd'].map((n) => [insert('Party', { party_name: n }), n]);
  const rice = insert('Product', { product_name: 'Rice 25kg' });
  const oil = insert('Product', { product_name: 'Sunflower oil 5l' });
  const totals = new Map();
  const sales = [];
  for (let i = 0; i < 9; i++) {
    const [party, name] = parties[i % 3];
    const quantity = 1 + (i % 4);
    const unit_price = 10 + i;
    totals.set(name, (totals.get(name) ?? 0) + quantity * unit_price);
    sales.push(JSON.stringify({ party, sale_date: daysAgo(i * 3), lines: [{ product: rice, quantity, unit_price }] }));
  }
  const file = join(tempDir('sales'), 'sales.jsonl');
  writeFileSync(file, sales.join('\n') + '\n');
  const imported = cli(['db', '--data', slave, '--connect', url, 'import', 'Sale', file]);
  assert.equal(imported.code, 0, imported.err);
  // The invoice's Sale: two lines, today, for a party of its own.
  const buyer = insert('Party', { party_name: 'Silk Road Traders' });
  const invoiced = insert('Sale', {
    party: buyer,
    sale_date: daysAgo(0),
    lines: [
      { product: rice, quantity: 4, unit_price: 31.5 },
      { product: oil, quantity: 10, unit_price: 9.25 },
    ],
  });

  // Save as PDF: the master's invoice, in Downloads.
  await openDoctype(s, 'Sale');
  await (await rowWithText(s, 'Silk Road Traders')).click();
  await s.click(sel('print-save'));
  const note = await s.waitText(sel('print-note'), 'Saved');
  const pdf = note.replace(/^Saved /, '').trim();
  assert.ok(pdf.startsWith(home), `saved in the home's Downloads: ${pdf}`);
  assert.ok(pdf.includes(invoiced) || /Sale-invoice/.test(pdf), pdf);
  const text = execFileSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' });
  for (const want of ['Documents Depot', '12 Silk Road', 'Kashgar 844000', 'Silk Road Traders', 'Rice 25kg', 'Sunflower oil 5l', '126.00', '92.50', '218.50']) {
    assert.ok(text.includes(want), `no ${want} in the saved invoice:\n${text}`);
  }
  const lines = text.split('\n');
  assert.ok(lines.some((l) => l.includes('12 Silk Road') && !l.includes('Kashgar')), `the address on two lines:\n${text}`);
  await shot(s, 'desktop-print');

  // Home: today's two sales, and the 30 days as a chart.
  await s.click(sel('nav-home'));
  await s.waitText(sel('today-count'), (t) => /^2\s*sales today/.test(t));
  await s.$(`${sel('home')} ${sel('report-chart')}[data-points="30"]`);
  await shot(s, 'desktop-home');

  // Reports: sales by party, as bars, the totals as summed here.
  totals.set('Silk Road Traders', 218.5);
  await s.click(sel('nav-reports'));
  await s.click(sel('builtin-sales_by_party'));
  await s.waitText(sel('report-title'), 'Sales by party');
  await s.$(`${sel('report-chart')}[data-kind="bar"][data-points="4"]`);
  const want = [...totals.entries()].sort((a, b) => b[1] - a[1]);
  await waitFor('the table of parties', async () => {
    const t = await s.text(sel('report-table'));
    return want.every(([name, total]) => t.includes(name) && t.includes(total.toFixed(2)));
  });
  const table = await s.text(sel('report-table'));
  const order = want.map(([name]) => table.indexOf(name));
  assert.deepEqual([...order].sort((a, b) => a - b), order, `largest first: ${table}`);
  await shot(s, 'desktop-reports');

  // Records: every Sale's lines as XLSX, saved in Downloads.
  await openDoctype(s, 'Sale');
  await s.execute(
    'const x = document.querySelector(arguments[0]); x.value = "lines"; x.dispatchEvent(new Event("change", { bubbles: true }));',
    [sel('export-what')],
  );
  await s.click(sel('export-xlsx'));
  const done = await s.waitText(sel('export-done'), 'Saved');
  const m = done.match(/^Saved (.+\.xlsx) \((\d+) rows\)$/);
  assert.ok(m, done);
  assert.equal(Number(m[2]), 11, 'nine one-line sales and the two lines of the invoice');
  assert.ok(m[1].startsWith(home), m[1]);
  assert.equal(readFileSync(m[1]).subarray(0, 2).toString(), 'PK', 'an XLSX is a zip');

  // Import: a CSV of lines for the invoiced Sale, previewed, then run.
  const csv = join(tempDir('import'), 'more lines.csv');
  writeFileSync(csv, `Sale,Product,Quantity,Unit Price\n${invoiced},${oil},2,9.25\n${invoiced},${rice},1,31.5\n`);
  await s.click(sel('import-open'));
  await s.execute(
    'const x = document.querySelector(arguments[0]); x.value = "lines"; x.dispatchEvent(new Event("change", { bubbles: true }));',
    [sel('import-table')],
  );
  await (await s.find(sel('import-file'))).type(csv);
  await s.waitText(sel('import-summary'), '2 rows, 2 good.');
  await shot(s, 'desktop-import-preview');
  // WebKitWebDriver leaves the file input focused after typing a path into
  // it, and moving the focus off it shifts the dialog by a few pixels while
  // the click is pressed (mousedown on Import, mouseup beside it: no
  // click). A person's click elsewhere first, as after a file chooser.
  await s.click(sel('import-summary'));
  await s.click(sel('import-run'));
  await s.waitText(sel('import-done'), 'Imported 2');
  const got = cli(['db', '--data', slave, '--connect', url, 'get', 'Sale', invoiced]);
  assert.equal(got.code, 0, got.err);
  assert.equal(got.json.lines.length, 4);
  assert.equal(got.json.total, 218.5 + 18.5 + 31.5);
}));
