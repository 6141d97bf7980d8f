// The browser transport: a page served by the master becomes a slave over
// the browser's own WebRTC. Same signaling as a desktop slave
// (crates/link/src/handshake.rs): hello with a code proof on first contact,
// the master's offer pinned to the fingerprint of the master that served
// this page, an answer from this browser's kept certificate, trickled
// candidates both ways, and the `db` channel the master opens. DB calls are
// the protocol's envelopes (crates/api/src/protocol.rs), framed and chunked
// as the master expects (framing.ts).
//
// The desktop's commands that make sense in a browser are answered here
// (`app_status`, `slave_connect`, `slave_forget`, `sync_status`, `db_call`);
// master-only ones are refused with `not_available`.

import { ApiError, type ConnectionLink, type Status, type Transport } from '../api';
import { shortFingerprint } from '../pairing';
import { Reassembler, split } from './framing';
import { loadIdentity, type BrowserIdentity } from './identity';
import { backoff, LinkFailure, MASTER_CHANGED, openChannel, type Open } from './channel';
import { normalizeCode, normalizeFingerprint } from './pairing';

import { accepted, defaultDeviceName, PAIRING_KEY, REPLACED, SIGN_IN_KEY, type KeptPairing, type ServedBy } from './kept';

export { asDtlsServer, backoff, LinkFailure, MASTER_CHANGED, offerMaxFrame, openChannel } from './channel';
export { accepted, defaultDeviceName, type KeptPairing, type ServedBy } from './kept';

/** Largest message after reassembly (the master's limit). */
const MAX_MESSAGE = 8 * 1024 * 1024;
const CALL_MS = 30_000;
/** How long the first call on a new channel waits before it is sent again
 * (`firstCall`), and how many times it goes at most. */
const FIRST_CALL_MS = 1_000;
const FIRST_CALL_TRIES = 3;
/** Why a call failed when its time ran out (`ApiError.details.reason`). */
const NO_ANSWER = 'no_answer';
/** Bytes queued on the channel before sending waits for it to drain. */
const HIGH_WATER = 1024 * 1024;

interface Pending {
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}


type Listener = (payload: any) => void;

/** A Transport for a page served by the master (see the top of this file). */
export class BrowserSession implements Transport {
  readonly kind = 'browser' as const;
  private listeners = new Map<string, Set<Listener>>();
  private identity: BrowserIdentity | null = null;
  private served: ServedBy | null = null;
  private loadError: string | null = null;
  private open: Open | null = null;
  private link: ConnectionLink = { state: 'idle' };
  private pending = new Map<string, Pending>();
  private reasm = new Reassembler(MAX_MESSAGE);
  private sendChain: Promise<void> = Promise.resolve();
  private attempt: Promise<void> | null = null;
  private retries = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private ready: Promise<void>;
  /** The kept sign-in's resume on a new channel, until it answers: other
   * calls wait for it (sent beside it, the master would refuse them as
   * not signed in, and the page would show the sign-in screen). */
  private resuming: Promise<unknown> | null = null;
  /** When the last connection attempt started (`performance.now()`, ms
   * since the page started), for the benchmark. */
  readonly timing = { attempt: 0 };

  constructor(
    private readonly origin: { host: string; base: string } = { host: location.host, base: location.origin },
    private readonly storage: Storage = localStorage,
    private readonly tab: Storage | null = typeof sessionStorage === 'undefined' ? null : sessionStorage,
  ) {
    this.ready = this.load();
  }

  private async load() {
    try {
      const r = await fetch(`${this.origin.base}/outpost.json`, { cache: 'no-store' });
      if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
      const info = (await r.json()) as ServedBy;
      const fp = normalizeFingerprint(String(info.fingerprint ?? ''));
      if (!fp) throw new Error('it names no certificate fingerprint');
      this.served = { office: String(info.office ?? ''), fingerprint: fp, signal: String(info.signal ?? '/signal') };
    } catch (e) {
      this.loadError = `this page cannot learn which master served it (${e instanceof Error ? e.message : String(e)}); open the address the master prints`;
      return;
    }
    try {
      this.identity = await loadIdentity();
    } catch (e) {
      this.loadError = e instanceof Error ? e.message : String(e);
      return;
    }
    const kept = this.kept();
    if (kept && !accepted(kept).includes(this.served.fingerprint)) {
      this.setLink({
        state: 'refused',
        code: MASTER_CHANGED,
        message: `the master at ${this.origin.host} is not the one this browser was paired with (its certificate is ${shortFingerprint(this.served.fingerprint)}, the paired one ${shortFingerprint(kept.fingerprint)}); if the master was reinstalled, forget it here and pair again`,
      });
      return;
    }
    if (kept) this.connect();
  }

  // ---- the Transport --------------------------------------------------------

  async invoke(cmd: string, args: any = {}): Promise<any> {
    await this.ready;
    switch (cmd) {
      case 'app_status':
        return this.status();
      case 'db_call':
        return this.dbCall(args.request);
      case 'slave_connect':
        return this.pair(args.code, args.name);
      case 'slave_forget':
        return this.forget();
      case 'sync_status':
        return this.callOk('sync.status');
      case 'take_open_url':
        return null;
      case 'sign_in_kept':
        return this.keptSignIn();
      case 'masters_discover':
        return [];
      default:
        throw new ApiError(
          'not_available',
          `“${cmd}” is for the Outpost desktop app; a browser works on the office’s records only`,
        );
    }
  }

  async listen(event: string, cb: Listener): Promise<() => void> {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const entry: Listener = (p) => cb(p);
    set.add(entry);
    return () => {
      set!.delete(entry);
    };
  }

  private emit(event: string, payload: unknown) {
    for (const cb of [...(this.listeners.get(event) ?? [])]) cb(payload);
  }

  // ---- state ------------------------------------------------------------------

  private kept(): KeptPairing | null {
    try {
      const k = JSON.parse(this.storage.getItem(PAIRING_KEY) ?? 'null');
      return k && typeof k.fingerprint === 'string' ? (k as KeptPairing) : null;
    } catch {
      return null;
    }
  }

  status(): Status {
    if (this.loadError) throw new ApiError('unavailable', this.loadError);
    const id = this.identity!;
    const kept = this.kept();
    const served = this.served!;
    return {
      role: kept ? 'slave' : 'none',
      device_id: id.fingerprint,
      device_short: shortFingerprint(id.fingerprint),
      office_name: kept ? served.office || kept.office : null,
      master: {
        name: served.office,
        fingerprint: served.fingerprint,
        short: shortFingerprint(served.fingerprint),
        addr: this.origin.host,
      },
      link: { ...this.link, master: served.office },
      devices_connected: 0,
      listen: null,
      data_dir: '',
      // A browser never keeps a copy of the office, and is served by the
      // master itself: it never runs an older Outpost than its master.
      standby: null,
      update: null,
    };
  }

  private setLink(l: ConnectionLink) {
    this.link = l;
    if (this.identity && this.served) this.emit('status', this.status());
  }

  private signalUrl(): string {
    const path = this.served?.signal ?? '/signal';
    return `${this.origin.base.replace(/^http/, 'ws')}${path}`;
  }

  // ---- pairing ----------------------------------------------------------------

  private async pair(code: unknown, name: unknown): Promise<Status> {
    if (this.loadError) throw new ApiError('unavailable', this.loadError);
    const c = normalizeCode(typeof code === 'string' ? code : '');
    if (!c) throw new ApiError('bad_request', 'enter the pairing code shown on the master');
    const deviceName = (typeof name === 'string' && name.trim()) || defaultDeviceName();
    this.stopRetrying();
    await this.attempt?.catch(() => undefined);
    this.drop('a new pairing was started');
    this.setLink({ state: 'connecting' });
    try {
      // Paired with this very master already: it need not prove the code.
      const again = this.kept()?.fingerprint === this.served!.fingerprint;
      const open = await this.dial(this.served!.fingerprint, deviceName, c, !again);
      const kept: KeptPairing = {
        fingerprint: this.served!.fingerprint,
        office: this.served!.office,
        device_name: deviceName,
        paired_at: new Date().toISOString(),
      };
      this.storage.setItem(PAIRING_KEY, JSON.stringify(kept));
      this.adopt(open);
      return this.status();
    } catch (e) {
      const f = e as LinkFailure;
      // Still paired from before: keep trying that pairing.
      if (this.kept() && f.code !== 'forbidden' && f.code !== MASTER_CHANGED) {
        this.setLink({ state: 'reconnecting', reason: f.message });
        this.scheduleRetry();
      } else {
        this.setLink({ state: this.kept() ? 'refused' : 'idle', code: f.code, message: f.message });
      }
      throw new ApiError(f.code, f.message);
    }
  }

  private async forget(): Promise<Status> {
    this.stopRetrying();
    this.storage.removeItem(PAIRING_KEY);
    this.drop('this browser forgot the master');
    this.setLink({ state: 'idle' });
    return this.status();
  }

  // ---- the link ---------------------------------------------------------------

  /** One connection attempt with the kept pairing (no code). */
  private connect() {
    if (this.attempt || this.open) return;
    const kept = this.kept();
    if (!kept || !this.identity || !this.served) return;
    this.setLink({ state: this.retries === 0 ? 'connecting' : 'reconnecting', reason: this.link.reason ?? '' });
    this.timing.attempt = performance.now();
    // A reconnect asks again who serves this address: after a failover it
    // is the promoted standby, accepted when the roster names it.
    // The first attempt pins who served this page when the pairing accepts
    // it: a page opened by the office's LAN name after a failover was
    // served by the promoted standby.
    const served = this.served.fingerprint;
    const first = accepted(kept).includes(served) ? served : kept.fingerprint;
    const pin = this.retries === 0 ? Promise.resolve(first) : this.whoServes(kept);
    this.attempt = pin
      .then((fp) => this.dial(fp, kept.device_name).then((open) => ({ open, fp })))
      .then(({ open, fp }) => {
        const now = this.kept();
        if (!now) {
          open.pc.close();
          return;
        }
        if (fp !== now.fingerprint) {
          this.storage.setItem(PAIRING_KEY, JSON.stringify({ ...now, fingerprint: fp }));
        }
        this.adopt(open);
      })
      .catch((f: LinkFailure) => {
        if (f.code === 'forbidden' || f.code === 'unauthorized' || f.code === MASTER_CHANGED) {
          // Revoked, unknown to this master (its database was replaced), or
          // not the master this page pinned: trying again cannot help.
          this.setLink({ state: 'refused', code: f.code, message: f.message });
        } else {
          this.setLink({ state: 'reconnecting', reason: f.message });
          this.scheduleRetry();
        }
      })
      .finally(() => {
        this.attempt = null;
      });
  }

  /** One attempt from this page to the master it came from, pinned to
   * `master`; any failure is a LinkFailure. */
  private async dial(master: string, deviceName: string, code?: string, mustProve = true): Promise<Open> {
    try {
      return await openChannel({
        signalUrl: this.signalUrl(),
        host: this.origin.host,
        identity: this.identity!,
        master,
        deviceName,
        code,
        mustProve,
      });
    } catch (e) {
      throw e instanceof LinkFailure ? e : new LinkFailure('unavailable', String(e));
    }
  }

  private scheduleRetry() {
    if (this.retryTimer) return;
    const wait = backoff(this.retries++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, wait);
  }

  private stopRetrying() {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private adopt(open: Open) {
    this.open = open;
    this.retries = 0;
    this.reasm = new Reassembler(MAX_MESSAGE);
    const { dc, pc } = open;
    dc.onmessage = (e) => this.onFrame(e.data);
    dc.bufferedAmountLowThreshold = HIGH_WATER / 4;
    const lost = () => this.lose(open, 'the connection to the master was lost');
    dc.onclose = lost;
    pc.onconnectionstatechange = () => {
      if (['failed', 'closed', 'disconnected'].includes(pc.connectionState)) lost();
    };
    this.setLink({ state: 'connected', master: this.served?.office ?? '' });
    // The first call is the tab's sign-in resume (the master forgets it
    // with the channel), or without one the `hello` that learns the
    // office's roster; every other call waits for it. Then change events
    // for every doctype, and a reload of whatever is shown, since events
    // may have been missed while away.
    const kept = this.keptSignIn();
    const helloArgs = { epoch: this.kept()?.epoch ?? 0 };
    const first = kept
      ? this.firstCall(open, 'auth.resume', { token: kept.token })
      : this.firstCall(open, 'hello', helloArgs);
    const resumed = first.catch(() => undefined);
    this.resuming = resumed;
    void resumed.finally(() => {
      if (this.resuming === resumed) this.resuming = null;
    });
    void resumed.then(() => this.callOk('subscribe', {})).catch(() => undefined);
    const hello = kept ? this.callOk('hello', helloArgs) : first;
    void hello.then((v) => this.learnRoster(v)).catch(() => undefined);
    this.emit('db-event', { ev: 'lagged', missed: 0 });
  }

  /**
   * The first call on a new channel; the page's other calls wait for it.
   * Sent again when no answer comes within FIRST_CALL_MS: Chromium now and
   * then never sends the first message a page gives a channel it has just
   * opened (the master's SCTP receives no data for it; about 1 connect in
   * 80 in tests/browser/connect-bench.mjs), and without this every call of
   * the page waited out its 30 s. After FIRST_CALL_TRIES silent tries the
   * channel is taken for lost and the page connects again. `op` must be
   * safe to repeat (auth.resume, hello).
   */
  private async firstCall(open: Open, op: string, args: object): Promise<any> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.callOk(op, args, FIRST_CALL_MS, true);
      } catch (e) {
        const silent = e instanceof ApiError && e.details?.reason === NO_ANSWER;
        if (!silent || this.open !== open) throw e;
        if (tries >= FIRST_CALL_TRIES) {
          this.lose(open, 'the master did not answer on the new connection');
          throw e;
        }
        console.warn(`outpost: no answer to ${op} on the new connection within ${FIRST_CALL_MS} ms; sending it again`);
      }
    }
  }

  /** Which of the kept pairing's masters serves this address now (read
   * from `/outpost.json`); the kept one when it cannot tell. */
  private async whoServes(kept: KeptPairing): Promise<string> {
    try {
      const r = await fetch(`${this.origin.base}/outpost.json`, { cache: 'no-store' });
      const info = (await r.json()) as ServedBy;
      const fp = normalizeFingerprint(String(info.fingerprint ?? ''));
      if (fp && accepted(kept).includes(fp)) {
        if (this.served) this.served = { ...this.served, fingerprint: fp };
        return fp;
      }
    } catch {
      // Nobody answers yet: try the kept one, and again later.
    }
    return kept.fingerprint;
  }

  /** Ends `open` (when it is still the page's channel) and connects again. */
  private lose(open: Open, why: string) {
    if (this.open !== open) return;
    this.drop(why);
    if (this.kept()) {
      this.setLink({ state: 'reconnecting', reason: why });
      this.scheduleRetry();
    }
  }

  /** Remembers the roster and epoch the master answered to `hello` (sent
   * with the epoch this browser knows). A master of an older epoch was
   * replaced by its standby: the browser leaves it (and the master, told,
   * stops taking writes). */
  private learnRoster(v: any) {
    const kept = this.kept();
    if (!kept) return;
    const epoch = Number(v?.epoch ?? 0);
    if (epoch < (kept.epoch ?? 0)) {
      this.drop('this master is out of date (a standby was promoted in its place)');
      this.setLink({ state: 'reconnecting', reason: 'this master is out of date; looking for the current one' });
      this.scheduleRetry();
      return;
    }
    const roster = (Array.isArray(v?.roster) ? v.roster : [])
      .map((f: unknown) => normalizeFingerprint(String(f)))
      .filter((f: string | null): f is string => !!f);
    const current = this.kept();
    if (!current || !roster.includes(current.fingerprint)) return;
    this.storage.setItem(PAIRING_KEY, JSON.stringify({ ...current, roster, epoch }));
  }

  /** The sign-in this tab keeps (its token resumes it), or null. */
  private keptSignIn(): { token: string; user: string } | null {
    try {
      const k = JSON.parse(this.tab?.getItem(SIGN_IN_KEY) ?? 'null');
      return k && typeof k.token === 'string' ? k : null;
    } catch {
      return null;
    }
  }

  /** Keeps what an answer says about the tab's sign-in: a new one (and
   * subscribes for its person), a sign-out, or one that ended. */
  private noteSignIn(op: string, resp: any) {
    if (!this.tab) return;
    if ((op === 'auth.sign_in' || op === 'auth.resume') && typeof resp?.ok?.token === 'string') {
      this.tab.setItem(SIGN_IN_KEY, JSON.stringify(resp.ok));
      if (op === 'auth.sign_in') void this.callOk('subscribe', {}).catch(() => undefined);
    } else if (op === 'auth.sign_out' || resp?.err?.details?.reason === 'sign_in_ended') {
      this.tab.removeItem(SIGN_IN_KEY);
    }
  }

  /** Closes the channel and fails the calls waiting on it. */
  private drop(why: string) {
    const open = this.open;
    this.open = null;
    if (open) {
      open.dc.onclose = null;
      open.dc.onmessage = null;
      open.pc.onconnectionstatechange = null;
      open.dc.close();
      open.pc.close();
    }
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ApiError('unavailable', `${why}; the call may or may not have been made (a retried write is not made twice)`));
    }
    this.pending.clear();
  }

  private onFrame(data: unknown) {
    if (!(data instanceof ArrayBuffer)) return;
    let msg: Uint8Array | null;
    try {
      msg = this.reasm.push(new Uint8Array(data));
    } catch (e) {
      console.error('outpost: a bad frame from the master', e);
      return;
    }
    if (!msg) return;
    let v: any;
    try {
      v = JSON.parse(new TextDecoder().decode(msg));
    } catch {
      console.error('outpost: a message from the master that is not JSON');
      return;
    }
    if (v && v.ev === 'replaced') {
      // This browser connected again from another tab (the same device):
      // the master closes this channel, and this tab stops, or the two
      // would take turns closing each other.
      this.drop('this browser connected to the master from another tab');
      this.setLink({ state: 'refused', code: 'replaced', message: REPLACED });
      return;
    }
    if (v && typeof v.ev === 'string') {
      this.emit('db-event', v);
      return;
    }
    const key = v?.id === undefined || v?.id === null ? null : String(v.id);
    const p = key === null ? undefined : this.pending.get(key);
    if (!p) return;
    this.pending.delete(key!);
    clearTimeout(p.timer);
    p.resolve(v);
  }

  // ---- calls ------------------------------------------------------------------

  private async waitConnected() {
    if (this.open) return;
    if (this.attempt) await this.attempt.catch(() => undefined);
    if (!this.open) {
      const why = this.link.message ?? this.link.reason;
      throw new ApiError(
        'unavailable',
        this.kept() ? `not connected to the master${why ? `: ${why}` : ''}` : 'this browser is not paired with the master yet',
      );
    }
  }

  /** Sends one request envelope; resolves with the master's response envelope. */
  private async dbCall(request: any, timeoutMs: number = CALL_MS, first = false): Promise<any> {
    if (!request || typeof request !== 'object' || request.id === undefined) {
      throw new ApiError('bad_request', 'a DB call needs a request envelope with an id');
    }
    await this.waitConnected();
    while (this.resuming && !first) {
      await this.resuming;
      await this.waitConnected();
    }
    const open = this.open!;
    const key = String(request.id);
    const bytes = new TextEncoder().encode(JSON.stringify(request));
    if (bytes.length > MAX_MESSAGE) {
      throw new ApiError('too_large', `the request is ${bytes.length} bytes, over the ${MAX_MESSAGE}-byte limit`);
    }
    const answer = new Promise<any>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new ApiError('unavailable', `the master did not answer ${request.op} within ${timeoutMs / 1000} s`, { reason: NO_ANSWER }));
      }, timeoutMs);
      this.pending.set(key, {
        resolve: (v) => {
          this.noteSignIn(String(request.op), v);
          resolve(v);
        },
        reject,
        timer,
      });
    });
    this.sendChain = this.sendChain.then(() => this.sendFrames(open, bytes)).catch((e) => {
      const p = this.pending.get(key);
      if (p) {
        this.pending.delete(key);
        clearTimeout(p.timer);
        p.reject(new ApiError('unavailable', `the request could not be sent: ${e instanceof Error ? e.message : e}`));
      }
    });
    return answer;
  }

  /** One message's frames, in order, waiting while too much is queued. */
  private async sendFrames(open: Open, bytes: Uint8Array) {
    const { dc } = open;
    for (const f of split(bytes, open.maxFrame)) {
      while (dc.bufferedAmount > HIGH_WATER && dc.readyState === 'open') {
        await new Promise<void>((r) => {
          dc.addEventListener('bufferedamountlow', () => r(), { once: true });
          setTimeout(r, 1000);
        });
      }
      if (dc.readyState !== 'open') throw new Error('the channel closed');
      dc.send(f as Uint8Array<ArrayBuffer>);
    }
  }

  /** A DB call by op name, returning its `ok` or throwing its `err`. */
  private async callOk(op: string, args: object = {}, timeoutMs: number = CALL_MS, first = false): Promise<any> {
    const resp = await this.dbCall({ v: 1, id: `b-${Date.now()}-${Math.random().toString(36).slice(2)}`, op, args }, timeoutMs, first);
    if (resp?.err) throw ApiError.from(resp.err);
    return resp?.ok;
  }
}
