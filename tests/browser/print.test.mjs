// Print in a browser slave (issue 15): a Sale made on the master, opened in
// the browser; Download PDF saves the master's invoice through the browser's
// downloads (read back with pdftotext: party, every line, total), and
// Print loads the PDF in a hidden frame for the browser's print dialog.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../desktop/webdriver.mjs';
import { cli, openBrowser, openDoctype, pair, row, shot, startMaster, tempDir, tid, withShots } from './harness.mjs';

test('a browser downloads and prints the invoice the master makes', withShots(async () => {
  const pw = join(tempDir('pw'), 'password');
  writeFileSync(pw, 'manager password\n', { mode: 0o600 });
  const m = await startMaster('Print depot', { extra: ['--admin-password-file', pw, '--office-address', '1 Bazaar Street\\nKashgar'] });
  const insert = (doctype, record) => {
    const r = cli(['db', '--data', m.data, 'insert', doctype, JSON.stringify(record)]);
    assert.equal(r.code, 0, r.err);
    return r.json.name;
  };
  const party = insert('Party', { party_name: 'Silk Road Traders' });
  const rice = insert('Product', { product_name: 'Rice 25kg', list_price: 31.5 });
  const oil = insert('Product', { product_name: 'Sunflower oil 5l', list_price: 9.25 });
  insert('Sale', {
    party,
    sale_date: '2026-12-03',
    lines: [
      { product: rice, quantity: 4, unit_price: 31.5 },
      { product: oil, quantity: 10, unit_price: 9.25 },
    ],
  });

  const { page, errors } = await openBrowser('print');
  // A frame the page's Content-Security-Policy refuses is only a console
  // message (Chromium: "Refused to ... Content Security Policy", Firefox:
  // "Content-Security-Policy: The page's settings blocked ...").
  const refusals = [];
  page.on('console', (m) => /Content[- ]Security[- ]Policy|Refused to/i.test(m.text()) && refusals.push(m.text()));
  await page.goto(m.browser);
  await pair(page, m.code, 'Counter browser');
  await page.waitForSelector(`${tid('status-link')}[data-state="connected"]`);
  await page.click(tid('nav-records'));
  await page.waitForSelector(tid('signin-screen'));
  await page.fill(tid('signin-user'), 'manager');
  await page.fill(tid('signin-password'), 'manager password');
  await page.click(tid('signin-submit'));
  await page.waitForSelector(tid('status-user'));
  await openDoctype(page, 'Sale');
  await row(page, 'Silk Road Traders').click();
  await page.waitForSelector(tid('print-save'));
  assert.deepEqual(
    await page.$$eval(`${tid('print-format')} option`, (os) => os.map((o) => o.value)),
    ['invoice', 'receipt'],
  );
  await shot(page, 'b13-browser-print-buttons');

  // Download PDF: the browser's own download, the master's document.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('print-save'))]);
  assert.match(download.suggestedFilename(), /^Sale-invoice-.*\.pdf$/);
  const file = join(tempDir('downloads'), 'invoice.pdf');
  await download.saveAs(file);
  const text = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
  for (const want of ['Print depot', '1 Bazaar Street', 'Kashgar', 'Silk Road Traders', 'Rice 25kg', 'Sunflower oil 5l', '126.00', '92.50', '218.50']) {
    assert.ok(text.includes(want), `no ${want} in the downloaded invoice:\n${text}`);
  }
  await page.waitForSelector(tid('print-note'));

  // Print, as a receipt: the PDF goes to a hidden frame for the print dialog.
  await page.selectOption(tid('print-format'), 'receipt');
  await page.click(tid('print-button'));
  const frame = `${tid('print-frame')}[data-loaded="yes"]`;
  await page.waitForSelector(frame, { state: 'attached' });
  assert.match(await page.getAttribute(frame, 'src'), /^blob:/);
  assert.match(await page.getAttribute(frame, 'title'), /^Sale-receipt-.*\.pdf$/);
  assert.equal(await page.$(tid('print-error')), null);
  assert.deepEqual(refusals, [], 'the page refused the print frame');
  assert.deepEqual(errors, []);
}));
