// The drivers agree: the same page and the same calls give the same
// answers in Chromium (playwright-core) and in Firefox (puppeteer-core
// behind firefox-page.mjs), so a browser test that passes in one engine
// means the same in the other. It pins down what the tests lean on: text
// matching, strict locators, waits that really wait (and say what they
// waited for when they give up), actions that wait for their element,
// uncaught errors apart from console messages, and downloads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../desktop/webdriver.mjs';
import { cleanups, openBrowser, tempDir, withShots } from './harness.mjs';

const PAGE = `<!doctype html><meta charset="utf-8"><title>drivers</title>
<p class="msg">Paired with   Kashgar
  depot</p><p class="msg">Another message</p>
<button id="late" disabled>Later</button><span id="clicks">0</span>
<input id="name" value="Chrome on Linux"><span id="typed"></span>
<select id="state"><option value="draft">Draft</option><option value="confirmed">Confirmed</option></select>
<label><input type="radio" name="mode" id="good"> good rows</label>
<a id="save" download="Party lines.csv">Save</a>
<script>
  const $ = (id) => document.getElementById(id);
  setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<div id="soon">Soon here</div>'), 400);
  setTimeout(() => ($('late').disabled = false), 400);
  $('late').onclick = () => ($('clicks').textContent = Number($('clicks').textContent) + 1);
  $('name').oninput = () => ($('typed').textContent = $('name').value);
  $('state').onchange = () => (document.title = $('state').value);
  $('save').href = URL.createObjectURL(new Blob(['a,b\\r\\n1,2\\r\\n'], { type: 'text/csv' }));
  console.error('only a console message');
  window.fail = () => { setTimeout(() => { throw new Error('uncaught here'); }); Promise.reject(new Error('rejected here')); };
</script>`;

async function servePage() {
  const server = createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(PAGE);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${server.address().port}/`;
}

test('the Chromium and Firefox drivers answer the same calls the same way', withShots(async () => {
  const url = await servePage();
  const { page, errors } = await openBrowser('drivers');
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  await page.goto(url);

  // Text: a substring, case and runs of white space ignored.
  await page.locator('.msg', { hasText: 'paired WITH kashgar depot' }).waitFor();
  assert.equal(await page.locator('text=with Kashgar depot').textContent(), 'Paired with   Kashgar\n  depot');
  await page.waitForSelector('.msg:has-text("another message")');
  // A locator is strict: two elements are an error, first() picks one.
  await assert.rejects(page.locator('.msg').textContent(), /strict mode/);
  assert.equal(await page.locator('.msg').first().textContent(), 'Paired with   Kashgar\n  depot');

  // Waits wait for what comes later, and a timeout names what it waited for.
  await page.waitForSelector('#soon');
  await page.locator('#never', { hasText: 'x' }).waitFor({ timeout: 300 }).then(
    () => assert.fail('waited for an element that never came'),
    (e) => assert.match(e.message, /#never/),
  );
  await page.waitForSelector('#never', { state: 'detached' });
  // A click waits for its button to be enabled; a fill replaces the value
  // and the page sees it typed.
  await page.click('#late');
  assert.equal(await page.textContent('#clicks'), '1');
  await page.fill('#name', 'Counter tablet');
  assert.equal(await page.inputValue('#name'), 'Counter tablet');
  assert.equal(await page.textContent('#typed'), 'Counter tablet');
  // An option by its value or by its label; a radio checked.
  await page.selectOption('#state', 'Confirmed');
  assert.equal(await page.evaluate(() => document.title), 'confirmed');
  await page.check('#good');
  assert.equal(await page.evaluate(() => document.querySelector('#good').checked), true);
  assert.equal(await page.isDisabled('#late'), false);
  assert.equal(await page.$('#nothing'), null);
  assert.equal((await page.$$('.msg')).length, 2);

  // A download: its name, its bytes.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
  assert.equal(download.suggestedFilename(), 'Party lines.csv');
  assert.equal(readFileSync(await download.path(), 'utf8'), 'a,b\r\n1,2\r\n');
  const copy = join(tempDir('drivers'), 'copy.csv');
  await download.saveAs(copy);
  assert.equal(readFileSync(copy, 'utf8'), 'a,b\r\n1,2\r\n');

  // Uncaught errors and rejections are page errors; a console message is not.
  assert.ok(consoleErrors.includes('only a console message'), JSON.stringify(consoleErrors));
  assert.deepEqual(errors, []);
  await page.evaluate(() => window.fail());
  await waitFor('both page errors', async () => errors.length >= 2, 5000);
  assert.deepEqual([...errors].sort().map((m) => m.replace(/^Uncaught (\w*Error: )?/, '')), ['rejected here', 'uncaught here']);
}));
