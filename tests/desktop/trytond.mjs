// A real trytond for the JavaScript tests (window and browser), through
// the `outpost-trytond` helper binary (OUTPOST_TRYTOND_BIN, default
// target/debug/outpost-trytond).

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { waitFor } from './webdriver.mjs';

/** A real trytond (from the venv, on a copy of the test template
 * database) through the `outpost-trytond` helper; resolves with its port
 * and a JSON-RPC caller acting as the head office; `cleanups` (from
 * cleanupsAfterAll) stops it after the tests. */
export async function trytond(cleanups) {
  const bin = resolve(process.env.OUTPOST_TRYTOND_BIN || 'target/debug/outpost-trytond');
  const proc = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(async () => {
    proc.stdin.end();
    if (proc.exitCode === null) await new Promise((r) => proc.once('exit', r));
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  const port = await waitFor('trytond to start', async () => {
    const m = out.match(/^port (\d+)$/m);
    return m && Number(m[1]);
  }, 90000);
  const endpoint = `http://127.0.0.1:${port}/hq/rpc/`;
  let session = null;
  async function post(method, params, auth) {
    const headers = { 'Content-Type': 'application/json' };
    if (auth) headers.Authorization = auth;
    const r = await fetch(endpoint, { method: 'POST', headers, body: JSON.stringify({ id: 1, method, params }) });
    const body = await r.json();
    if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
    return body.result;
  }
  async function rpc(method, params) {
    if (!session) {
      const [uid, token] = await post('common.db.login', ['admin', { password: 'admin' }, 'en']);
      session = `Session ${Buffer.from(`admin:${uid}:${token}`).toString('base64')}`;
    }
    return post(method, params, session);
  }
  return { port, rpc };
}
