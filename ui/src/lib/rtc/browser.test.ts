import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api';
import { BrowserSession, accepted, asDtlsServer, backoff, defaultDeviceName, offerMaxFrame } from './browser';
import { split } from './framing';
import { PAIRING_KEY, SIGN_IN_KEY } from './kept';

describe('browser transport helpers', () => {
  it('reads the master’s frame limit from its offer, capped at what it accepts', () => {
    expect(offerMaxFrame('v=0\r\na=max-message-size:262144\r\n')).toBe(262144);
    expect(offerMaxFrame('v=0\r\na=max-message-size:16384\r\n')).toBe(16384);
    expect(offerMaxFrame('v=0\r\n')).toBe(65536);
    expect(offerMaxFrame('a=max-message-size:0\r\n')).toBe(262144);
    expect(offerMaxFrame('a=max-message-size:1073741823\r\n')).toBe(262144);
  });

  it('makes the browser the DTLS server: the master’s offer is applied as a=setup:active', () => {
    const offer = 'v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=fingerprint:sha-256 AB:CD\r\na=setup:actpass\r\na=mid:0\r\n';
    expect(asDtlsServer(offer)).toBe(offer.replace('a=setup:actpass', 'a=setup:active'));
    expect(asDtlsServer('a=setup:actpass\na=setup:actpass')).toBe('a=setup:active\na=setup:active');
    // A role the master chose itself is kept.
    expect(asDtlsServer('a=setup:passive\r\n')).toBe('a=setup:passive\r\n');
    expect(asDtlsServer('a=setup:active\r\n')).toBe('a=setup:active\r\n');
    // Firefox keeps its own choice.
    const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0';
    expect(asDtlsServer(offer, firefox)).toBe(offer);
  });

  it('backs off by doubling, with jitter, up to a cap', () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoff(n, mid))).toEqual([500, 1000, 2000, 4000, 8000, 15000, 15000]);
    expect(backoff(0, () => 0)).toBe(375);
    expect(backoff(0, () => 1)).toBe(625);
    expect(backoff(50, () => 1)).toBe(18750);
  });

  it('names a device after its browser and system', () => {
    expect(defaultDeviceName('Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36')).toBe('Chrome on Android');
    expect(defaultDeviceName('Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1')).toBe('Safari on iOS');
    expect(defaultDeviceName('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0')).toBe('Firefox on Windows');
    expect(defaultDeviceName('Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/126.0 Safari/537.36 Edg/126.0')).toBe('Edge on Windows');
    expect(defaultDeviceName('')).toBe('Browser');
  });
});

describe('BrowserSession without a usable page', () => {
  const storage = new Map<string, string>();
  const fakeStorage = {
    getItem: (k: string) => storage.get(k) ?? null,
    setItem: (k: string, v: string) => void storage.set(k, v),
    removeItem: (k: string) => void storage.delete(k),
  } as unknown as Storage;

  it('says why when the page cannot learn which master served it', async () => {
    const s = new BrowserSession({ host: '127.0.0.1:1', base: 'http://127.0.0.1:1' }, fakeStorage);
    const err = await s.invoke('app_status').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('unavailable');
    expect(err.message).toMatch(/cannot learn which master served it/);
  });

  it('refuses the desktop’s master-only commands by name', async () => {
    const s = new BrowserSession({ host: '127.0.0.1:1', base: 'http://127.0.0.1:1' }, fakeStorage);
    const err = await s.invoke('master_enable', { name: 'x' }).catch((e) => e);
    expect(err.code).toBe('not_available');
    expect(err.message).toMatch(/master_enable/);
    expect(await s.invoke('take_open_url')).toBeNull();
    const pair = await s.invoke('slave_connect', { code: 'ABCD-2345' }).catch((e) => e);
    expect(pair.code).toBe('unavailable');
  });
});

describe('a kept pairing', () => {
  it('accepts its master and, once learned, the office roster, each once', () => {
    const a = 'aa'.repeat(32);
    const b = 'bb'.repeat(32);
    const kept = { fingerprint: a, office: 'Depot', device_name: 'tablet', paired_at: '' };
    expect(accepted(kept)).toEqual([a]);
    expect(accepted({ ...kept, roster: [a, b] })).toEqual([a, b]);
    expect(accepted({ ...kept, fingerprint: b, roster: [a, b] })).toEqual([b, a]);
  });
});

describe('the first call on a new channel', () => {
  /** A channel whose first `drop` sends never leave (as Chromium now and
   * then loses the first message on a channel it just opened); every other
   * request is answered `ok` a tick later. */
  function channel(drop: number) {
    const sent: string[] = [];
    let lost = 0;
    const dc: any = {
      readyState: 'open',
      bufferedAmount: 0,
      onmessage: null,
      onclose: null,
      addEventListener() {},
      close() {
        dc.readyState = 'closed';
      },
      send(frame: Uint8Array) {
        const req = JSON.parse(new TextDecoder().decode(frame.subarray(1)));
        sent.push(req.op);
        if (lost++ < drop) return;
        const answer = new TextEncoder().encode(JSON.stringify({ id: req.id, ok: { token: 't1', user: 'fay', epoch: 0 } }));
        setTimeout(() => dc.onmessage?.({ data: split(answer)[0].slice().buffer }), 1);
      },
    };
    const pc: any = { connectionState: 'connected', onconnectionstatechange: null, close() {} };
    return { open: { dc, pc, maxFrame: 65_536 }, sent };
  }

  function session() {
    const store = new Map<string, string>([[PAIRING_KEY, JSON.stringify({ fingerprint: 'aa'.repeat(32), office: 'Depot', device_name: 'tablet', paired_at: '' })]]);
    const tab = new Map<string, string>([[SIGN_IN_KEY, JSON.stringify({ token: 't1', user: 'fay' })]]);
    const asStorage = (m: Map<string, string>) =>
      ({ getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) }) as unknown as Storage;
    return new BrowserSession({ host: '127.0.0.1:1', base: 'http://127.0.0.1:1' }, asStorage(store), asStorage(tab)) as any;
  }

  afterEach(() => {
    vi.useRealTimers();
  });

  it('is sent again when its message is lost, and the calls waiting on it go within seconds', async () => {
    vi.useFakeTimers();
    const s = session();
    const { open, sent } = channel(1);
    s.adopt(open);
    const got = s.callOk('get', { doctype: 'Party', name: 'p1' });
    await vi.advanceTimersByTimeAsync(50);
    // Every other call waits for the resume.
    expect(sent).toEqual(['auth.resume']);
    // One second later the resume goes again; then the waiting calls.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sent.filter((op) => op === 'auth.resume')).toHaveLength(2);
    await expect(got).resolves.toBeTruthy();
    expect(sent).toContain('get');
    expect(sent).toContain('subscribe');
    expect(s.open).toBe(open);
  });

  it('gives the channel up after three silent tries and connects again', async () => {
    vi.useFakeTimers();
    const s = session();
    const { open, sent } = channel(Infinity);
    s.adopt(open);
    await vi.advanceTimersByTimeAsync(3_100);
    expect(sent.filter((op) => op === 'auth.resume')).toHaveLength(3);
    expect(s.open).toBeNull();
    expect(open.dc.readyState).toBe('closed');
    expect(s.link).toMatchObject({ state: 'reconnecting', reason: 'the master did not answer on the new connection' });
  });
});
