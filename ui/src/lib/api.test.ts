import { describe, expect, it, vi } from 'vitest';
import { Api, ApiError, IdSource, type Transport } from './api';

/** A transport that records calls, answers from a handler and fires events on demand. */
class FakeTransport implements Transport {
  calls: { cmd: string; args?: any }[] = [];
  listeners = new Map<string, Set<(p: any) => void>>();
  listenCalls: string[] = [];
  unlistened: string[] = [];
  constructor(public handler: (cmd: string, args?: any) => any = () => null) {}

  async invoke(cmd: string, args?: object) {
    this.calls.push({ cmd, args });
    return this.handler(cmd, args);
  }

  async listen(event: string, cb: (p: any) => void) {
    this.listenCalls.push(event);
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(cb);
    return () => {
      this.unlistened.push(event);
      set!.delete(cb);
    };
  }

  emit(event: string, payload: unknown) {
    for (const cb of this.listeners.get(event) ?? []) cb(payload);
  }
}

/** Answers every db_call with `ok`, echoing the request id. */
function echoOk(ok: unknown) {
  return (cmd: string, args: any) => (cmd === 'db_call' ? { id: args.request.id, ok } : null);
}

describe('request envelopes', () => {
  it('wraps each DB call in {v:1, id, op, args} and sends it with db_call', async () => {
    const t = new FakeTransport(echoOk({ name: 'x', rev: 1 }));
    const api = new Api(t, { clock: () => 1_000, random: () => 0 });
    await api.get('Party', 'x');
    expect(t.calls).toHaveLength(1);
    expect(t.calls[0].cmd).toBe('db_call');
    expect(t.calls[0].args).toEqual({
      request: { v: 1, id: 1_000_000, op: 'get', args: { doctype: 'Party', name: 'x' } },
    });
  });

  it('gives every call a new, increasing id', async () => {
    const t = new FakeTransport(echoOk({ rows: [] }));
    const api = new Api(t, { clock: () => 5, random: () => 0 });
    await api.query({ doctype: 'Party' });
    await api.query({ doctype: 'Party' });
    await api.doctypes();
    const ids = t.calls.map((c) => c.args.request.id);
    expect(ids).toEqual([5000, 5001, 5002]);
  });

  it('starts ids from the clock so a restarted app does not reuse them', () => {
    let now = 1_700_000_000_000;
    const a = new IdSource(() => now, () => 0);
    const first = a.next();
    expect(first).toBe(now * 1000);
    // Same millisecond: still increasing.
    expect(a.next()).toBe(first + 1);
    // A later restart (new source) starts above the earlier ids.
    now += 10;
    const b = new IdSource(() => now, () => 0.5);
    expect(b.next()).toBeGreaterThan(first + 1);
    // The clock going back does not make ids go back.
    now -= 1000;
    expect(b.next()).toBe(b.next() - 1);
    expect(Number.isSafeInteger(a.next())).toBe(true);
  });

  it('two copies in the same millisecond pick different ids', () => {
    const now = () => 1_700_000_000_000;
    const a = new IdSource(now, () => 0.1);
    const b = new IdSource(now, () => 0.7);
    const ids = [a.next(), b.next(), a.next(), b.next()];
    expect(new Set(ids).size).toBe(4);
    expect(ids[0]).toBe(1_700_000_000_000_100);
    expect(ids[1]).toBe(1_700_000_000_000_700);
  });

  it('builds update with the rev edited and only the record given', async () => {
    const t = new FakeTransport(echoOk({ name: 'n', rev: 4 }));
    const api = new Api(t);
    await api.update('Party', 'n', 3, { city: 'Yarkant' });
    expect(t.calls[0].args.request.op).toBe('update');
    expect(t.calls[0].args.request.args).toEqual({
      doctype: 'Party',
      name: 'n',
      rev: 3,
      record: { city: 'Yarkant' },
    });
  });

  it('leaves empty query arguments out and keeps filters, sort and paging', async () => {
    const t = new FakeTransport(echoOk({ rows: [{ name: 'a', rev: 1 }] }));
    const api = new Api(t);
    const rows = await api.query({
      doctype: 'Party',
      query: '  ',
      filters: [['city', 'like', 'K%']],
      sort: 'city:asc,name',
      limit: 50,
      offset: 100,
      fields: undefined,
    });
    expect(rows).toEqual([{ name: 'a', rev: 1 }]);
    expect(t.calls[0].args.request.args).toEqual({
      doctype: 'Party',
      filters: [['city', 'like', 'K%']],
      sort: 'city:asc,name',
      limit: 50,
      offset: 100,
    });
  });

  it('count sends only what filters and returns the number', async () => {
    const t = new FakeTransport(echoOk(42));
    const api = new Api(t);
    const n = await api.count({ doctype: 'Sale', query: 'total:>10', sort: 'x', limit: 5, offset: 5 });
    expect(n).toBe(42);
    expect(t.calls[0].args.request).toMatchObject({ op: 'count', args: { doctype: 'Sale', query: 'total:>10' } });
    expect(t.calls[0].args.request.args).not.toHaveProperty('sort');
    expect(t.calls[0].args.request.args).not.toHaveProperty('limit');
  });

  it('delete sends the rev only when given', async () => {
    const t = new FakeTransport(echoOk({}));
    const api = new Api(t);
    await api.delete('Party', 'a');
    await api.delete('Party', 'b', 7);
    expect(t.calls[0].args.request.args).toEqual({ doctype: 'Party', name: 'a' });
    expect(t.calls[1].args.request.args).toEqual({ doctype: 'Party', name: 'b', rev: 7 });
  });
});

describe('responses', () => {
  it('throws the err of a response as an ApiError with code, message and details', async () => {
    const details = { reason: 'stale_rev', yours: 2, current_rev: 3, current: { name: 'x', rev: 3 } };
    const t = new FakeTransport((_c, a) => ({
      id: a.request.id,
      err: { code: 'conflict', message: 'changed meanwhile', details },
    }));
    const api = new Api(t);
    const e = await api.update('Party', 'x', 2, { city: 'A' }).catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('conflict');
    expect(e.message).toBe('changed meanwhile');
    expect(e.details).toEqual(details);
  });

  it('refuses an answer that belongs to another call', async () => {
    const t = new FakeTransport((_c, a) => ({ id: a.request.id + 1, ok: 1 }));
    const e = await new Api(t).count({ doctype: 'Party' }).catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe('internal');
    expect(e.message).toMatch(/another call/);
  });

  it('refuses an answer with neither ok nor err', async () => {
    const t = new FakeTransport((_c, a) => ({ id: a.request.id }));
    const e = await new Api(t).doctypes().catch((x) => x);
    expect(e.code).toBe('internal');
  });

  it('turns a rejected command into an ApiError, keeping the app codes', async () => {
    const t = new FakeTransport((cmd) => {
      if (cmd === 'master_disable') throw { code: 'devices_connected', message: '2 PCs are connected', details: { count: 2 } };
      if (cmd === 'slave_connect') throw 'plain text failure';
      return null;
    });
    const api = new Api(t);
    const e1 = await api.masterDisable(false).catch((x) => x);
    expect(e1).toBeInstanceOf(ApiError);
    expect([e1.code, e1.details.count]).toEqual(['devices_connected', 2]);
    const e2 = await api.slaveConnect('Kashgar').catch((x) => x);
    expect([e2.code, e2.message]).toEqual(['internal', 'plain text failure']);
  });

  it('a rejected db_call (no master) is an ApiError too', async () => {
    const t = new FakeTransport(() => {
      throw { code: 'unavailable', message: 'the master cannot be reached' };
    });
    const e = await new Api(t).get('Party', 'x').catch((x) => x);
    expect([e.code, e.message]).toEqual(['unavailable', 'the master cannot be reached']);
  });
});

describe('app commands', () => {
  it('send the contract names and camelCase arguments', async () => {
    const t = new FakeTransport(() => ({ url: 'outpost://h:1/?name=x' }));
    const api = new Api(t);
    await api.status();
    await api.masterEnable('Kashgar depot');
    await api.masterEnable('Depot', 7400);
    await api.masterDisable(true);
    await api.pairingInfo();
    await api.pairingRenew();
    await api.devicesList();
    await api.deviceRevoke('AB:CD');
    await api.mastersDiscover();
    await api.slaveConnect('outpost://h:1/?code=1', '  ');
    await api.slaveConnect('Kashgar depot', ' 1234 ');
    await api.slaveForget();
    await api.qrDecode(new Uint8Array([137, 80, 78]));
    await api.takeOpenUrl();
    expect(t.calls).toEqual([
      { cmd: 'app_status', args: undefined },
      { cmd: 'master_enable', args: { name: 'Kashgar depot' } },
      { cmd: 'master_enable', args: { name: 'Depot', port: 7400 } },
      { cmd: 'master_disable', args: { force: true } },
      { cmd: 'pairing_info', args: undefined },
      { cmd: 'pairing_renew', args: undefined },
      { cmd: 'devices_list', args: undefined },
      { cmd: 'device_revoke', args: { fingerprint: 'AB:CD' } },
      { cmd: 'masters_discover', args: undefined },
      { cmd: 'slave_connect', args: { target: 'outpost://h:1/?code=1' } },
      { cmd: 'slave_connect', args: { target: 'Kashgar depot', code: '1234' } },
      { cmd: 'slave_forget', args: undefined },
      { cmd: 'qr_decode', args: { image: [137, 80, 78] } },
      { cmd: 'take_open_url', args: undefined },
    ]);
    // The image goes as a plain array of numbers (JSON), not a typed array.
    expect(Array.isArray(t.calls[12].args.image)).toBe(true);
  });

  it('send the sync commands with their contract arguments', async () => {
    const t = new FakeTransport(() => null);
    const api = new Api(t);
    await api.upstreamSet(' /etc/outpost/hq.toml ');
    await api.upstreamSet(null);
    await api.upstreamSet('   ');
    await api.syncStatus();
    await api.syncNow();
    await api.syncConflicts();
    await api.syncConflicts(true);
    await api.syncResolve(7, 'remote');
    await api.syncParked();
    expect(t.calls).toEqual([
      { cmd: 'upstream_set', args: { path: '/etc/outpost/hq.toml' } },
      { cmd: 'upstream_set', args: { path: null } },
      { cmd: 'upstream_set', args: { path: null } },
      { cmd: 'sync_status', args: undefined },
      { cmd: 'sync_now', args: undefined },
      { cmd: 'sync_conflicts', args: { all: false } },
      { cmd: 'sync_conflicts', args: { all: true } },
      { cmd: 'sync_resolve', args: { id: 7, keep: 'remote' } },
      { cmd: 'sync_parked', args: undefined },
    ]);
  });

  it('send the backup commands with their contract arguments', async () => {
    const t = new FakeTransport(() => null);
    const api = new Api(t);
    const form = { folder: '/media/usb/outpost', every_minutes: 60, keep: 24, dailies: 7 };
    await api.backupForm();
    await api.backupSettingsSave(form);
    await api.backupView();
    await api.backupNow();
    expect(t.calls).toEqual([
      { cmd: 'backup_form', args: undefined },
      { cmd: 'backup_settings_save', args: { form } },
      { cmd: 'backup_view', args: undefined },
      { cmd: 'backup_now', args: undefined },
    ]);
  });

  it('an upstream file the shell refuses rejects with its problem', async () => {
    const t = new FakeTransport(() => {
      throw { code: 'bad_request', message: 'upstream file line 3: unknown key `usr`' };
    });
    const e = await new Api(t).upstreamSet('/tmp/hq.toml').catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect([e.code, e.message]).toEqual(['bad_request', 'upstream file line 3: unknown key `usr`']);
  });
});

describe('events', () => {
  it('delivers db-event payloads to every subscriber over one transport listener', async () => {
    const t = new FakeTransport();
    const api = new Api(t);
    const a = vi.fn();
    const b = vi.fn();
    const offA = await api.onDbEvent(a);
    await api.onDbEvent(b);
    expect(t.listenCalls).toEqual(['db-event']);
    const ev = { ev: 'changed', doctype: 'Party', name: 'n', rev: 2, op: 'update', seq: 9, device: 'X' };
    t.emit('db-event', ev);
    expect(a).toHaveBeenCalledWith(ev);
    expect(b).toHaveBeenCalledWith(ev);
    offA();
    t.emit('db-event', { ev: 'lagged', missed: 3 });
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenLastCalledWith({ ev: 'lagged', missed: 3 });
  });

  it('drops malformed payloads instead of passing them on', async () => {
    const t = new FakeTransport();
    const api = new Api(t);
    const db = vi.fn();
    const st = vi.fn();
    const url = vi.fn();
    await api.onDbEvent(db);
    await api.onStatus(st);
    await api.onOpenUrl(url);
    t.emit('db-event', { ev: 'changed' });
    t.emit('db-event', 'nonsense');
    t.emit('status', { nothing: 1 });
    t.emit('open-url', '');
    t.emit('open-url', 42);
    expect(db).not.toHaveBeenCalled();
    expect(st).not.toHaveBeenCalled();
    expect(url).not.toHaveBeenCalled();
    t.emit('status', { role: 'slave', link: { state: 'connected' } });
    t.emit('open-url', 'outpost://10.0.0.2:7355/?name=A&code=1');
    expect(st).toHaveBeenCalledWith({ role: 'slave', link: { state: 'connected' } });
    expect(url).toHaveBeenCalledWith('outpost://10.0.0.2:7355/?name=A&code=1');
  });

  it('routes each event name to its own subscribers', async () => {
    const t = new FakeTransport();
    const api = new Api(t);
    const db = vi.fn();
    const st = vi.fn();
    await api.onDbEvent(db);
    await api.onStatus(st);
    t.emit('status', { role: 'master', link: { state: 'connected' } });
    expect(st).toHaveBeenCalledTimes(1);
    expect(db).not.toHaveBeenCalled();
  });

  it('closes the transport listener when the last subscriber leaves, and reopens it', async () => {
    const t = new FakeTransport();
    const api = new Api(t);
    const off1 = await api.onStatus(() => {});
    const off2 = await api.onStatus(() => {});
    expect(api.listening).toBe(1);
    off1();
    expect(t.unlistened).toEqual([]);
    off2();
    off2(); // twice is harmless
    expect(t.unlistened).toEqual(['status']);
    expect(api.listening).toBe(0);
    const cb = vi.fn();
    await api.onStatus(cb);
    expect(t.listenCalls).toEqual(['status', 'status']);
    t.emit('status', { role: 'none', link: { state: 'idle' } });
    expect(cb).toHaveBeenCalledTimes(1);
  });

  it('unsubscribing before the listener is ready still closes it', async () => {
    let release!: () => void;
    const t = new FakeTransport();
    const gate = new Promise<void>((r) => (release = r));
    const listen = t.listen.bind(t);
    t.listen = async (e, cb) => {
      await gate;
      return listen(e, cb);
    };
    const api = new Api(t);
    const cb = vi.fn();
    const p = api.onDbEvent(cb);
    const off = await Promise.race([p, Promise.resolve(null)]);
    expect(off).toBeNull();
    release();
    (await p)();
    expect(t.unlistened).toEqual(['db-event']);
  });

  it('a handler that throws does not stop the others', async () => {
    const t = new FakeTransport();
    const api = new Api(t);
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    const good = vi.fn();
    await api.onOpenUrl(() => {
      throw new Error('boom');
    });
    await api.onOpenUrl(good);
    t.emit('open-url', 'outpost://x:1/');
    expect(good).toHaveBeenCalledOnce();
    spy.mockRestore();
  });
});
