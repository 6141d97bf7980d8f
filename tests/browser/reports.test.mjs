// Reports and Home in a browser slave (issue 15). A master with sales
// over the last six weeks; the browser pairs and signs in as the manager.
// Home shows today's sales (count and total, as summed here by hand) and
// the last 30 days as a line; Reports shows the built-ins (top products
// checked against the sums by hand), builds one (Sale Lines by month of
// their Sale) and exports it as CSV, read back and compared. Screenshots:
// browser-home, browser-reports.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../desktop/webdriver.mjs';
import { cli, daysAgo, openBrowser, pair, passwordFile, shot, startMaster, tempDir, tid, withShots } from './harness.mjs';



const round2 = (v) => Math.round(v * 100) / 100;

test('Home shows today and the last 30 days; Reports runs the built-ins and a built one, charted, and exports CSV', withShots(async () => {
  const pw = passwordFile('manager password');
  const m = await startMaster('Report depot', { extra: ['--admin-password-file', pw] });
  const insert = (doctype, record) => {
    const r = cli(['db', '--data', m.data, 'insert', doctype, JSON.stringify(record)]);
    assert.equal(r.code, 0, r.err);
    return r.json.name;
  };
  const parties = ['Acme Trading', 'Borax Mining'].map((n) => insert('Party', { party_name: n }));
  const products = ['Rice 25kg', 'Tea 1kg', 'Salt 5kg'].map((n) => [insert('Product', { product_name: n }), n]);
  // 18 sales: 3 today, the rest one every 2.5 days back to 38 days ago.
  const lines = [];
  const sales = [];
  for (let i = 0; i < 18; i++) {
    const date = daysAgo(i < 3 ? 0 : Math.floor(i * 2.2));
    const rows = [];
    for (let k = 0; k <= i % 3; k++) {
      const [product] = products[(i + k) % 3];
      const quantity = 1 + ((i + k) % 4);
      const unit_price = 2.5 + i + k;
      rows.push({ product, quantity, unit_price });
      lines.push({ date, product, amount: quantity * unit_price });
    }
    sales.push(JSON.stringify({ party: parties[i % 2], sale_date: date, lines: rows }));
  }
  const file = join(tempDir('sales'), 'sales.jsonl');
  writeFileSync(file, sales.join('\n') + '\n');
  const imported = cli(['db', '--data', m.data, 'import', 'Sale', file]);
  assert.equal(imported.code, 0, imported.err);

  const { page, errors } = await openBrowser('reports');
  await page.goto(m.browser);
  await pair(page, m.code, 'Office tablet');
  await page.waitForSelector(`${tid('status-link')}[data-state="connected"]`);
  await page.click(tid('nav-home'));
  await page.waitForSelector(tid('signin-screen'));
  await page.fill(tid('signin-user'), 'manager');
  await page.fill(tid('signin-password'), 'manager password');
  await page.click(tid('signin-submit'));
  await page.waitForSelector(tid('status-user'));

  // Home: today's sales, counted and totalled by hand.
  const today = lines.filter((l) => l.date === daysAgo(0));
  const todayTotal = round2(today.reduce((s, l) => s + l.amount, 0));
  await page.waitForSelector(tid('home'));
  await waitFor("today's count on Home", async () => (await page.textContent(tid('today-count'))).includes('3 sales'));
  const shownTotal = Number((await page.textContent(`${tid('today-total')} .big`)).replace(/[^0-9.]/g, ''));
  assert.equal(shownTotal, todayTotal);
  await page.waitForSelector(`${tid('home')} ${tid('report-chart')}[data-points="30"]`);
  assert.equal(await page.getAttribute(`${tid('home')} ${tid('report-chart')}`, 'data-kind'), 'line');
  await shot(page, 'browser-home');

  // Reports: the first built-in (sales by day) opens as a line over 30 days.
  await page.click(tid('nav-reports'));
  await page.waitForSelector(`${tid('reports')} ${tid('report-chart')}[data-points="30"]`);
  // Top products: amounts summed by hand, largest first, by name.
  await page.click(tid('builtin-top_products'));
  await page.waitForSelector(`${tid('report-title')}:has-text("Top products")`);
  const byProduct = new Map();
  for (const l of lines) byProduct.set(l.product, (byProduct.get(l.product) ?? 0) + l.amount);
  const want = [...byProduct.entries()].sort((a, b) => b[1] - a[1]).map(([p, amount]) => [products.find((x) => x[0] === p)[1], amount.toFixed(2)]);
  await waitFor('three products in the table', async () => (await page.$$(tid('report-row'))).length === 3);
  const got = await page.$$eval(`${tid('report-row')}`, (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
  assert.deepEqual(got.map((r) => [r[0], r[2]]), want);
  assert.equal(await page.getAttribute(tid('report-chart'), 'data-kind'), 'bar');
  await shot(page, 'browser-reports');

  // A built one: Sale Lines by month of their Sale, summing the amount.
  await page.click(tid('build-report'));
  await page.selectOption(tid('report-doctype'), 'Sale Line');
  await page.selectOption(tid('report-group'), 'parent.sale_date');
  await page.selectOption(tid('report-bucket'), 'month');
  await page.selectOption(tid('report-measure'), 'sum:amount');
  await page.click(tid('run-report'));
  const byMonth = new Map();
  for (const l of lines) {
    const k = l.date.slice(0, 7);
    const e = byMonth.get(k) ?? [0, 0];
    byMonth.set(k, [e[0] + 1, e[1] + l.amount]);
  }
  const months = [...byMonth.entries()].sort();
  await waitFor('a row per month', async () => (await page.$$(tid('report-row'))).length === months.length);
  // Exported as CSV: read the download back.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('export-csv'))]);
  const csv = await new Promise((resolve, reject) => {
    download.createReadStream().then((s) => {
      let text = '';
      s.on('data', (d) => (text += d));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    }, reject);
  });
  const expected = ['Sale Date (month),Count,Sum of Amount', ...months.map(([k, [c, s]]) => `${k},${c},${round2(s)}`)].join('\r\n') + '\r\n';
  assert.equal(csv, expected);
  assert.match(download.suggestedFilename(), /\.csv$/);

  // A bad filter is refused in words, in place.
  await page.fill(tid('report-filter'), 'colour:red');
  await page.click(tid('run-report'));
  await page.waitForSelector(tid('report-error'));
  assert.match(await page.textContent(tid('report-error')), /no field 'colour'/);
  assert.deepEqual(errors, []);
}));
