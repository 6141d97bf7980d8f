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

import { ApiError, type LinkView, type Status, type Transport } from '../api';
import { shortFingerprint } from '../pairing';
import { Reassembler, split } from './framing';
import { loadIdentity, type BrowserIdentity } from './identity';
import { codeProof, normalizeCode, normalizeFingerprint, sdpFingerprintMismatch } from './pairing';

/** What `/outpost.json` says about the master that served the page. */
export interface ServedBy {
  office: string;
  fingerprint: string;
  signal: string;
}

/** A pairing remembered by this browser (per master address: localStorage is per origin). */
export interface KeptPairing {
  fingerprint: string;
  office: string;
  /** The name the master lists this device under. */
  device_name: string;
  paired_at: string;
}

/** Largest message after reassembly (the master's limit). */
const MAX_MESSAGE = 8 * 1024 * 1024;
/** Frames the master accepts at most (its SCTP max message size). */
const MASTER_MAX_FRAME = 262_144;
const HANDSHAKE_MS = 15_000;
const SOCKET_OPEN_MS = 5_000;
const CALL_MS = 30_000;
/** Reconnect backoff: first wait, cap. */
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** Bytes queued on the channel before sending waits for it to drain. */
const HIGH_WATER = 1024 * 1024;
const PAIRING_KEY = 'outpost.pairing';
/** The code of a refusal by this page: another master than the pinned one answered. */
export const MASTER_CHANGED = 'master_changed';

/** A refusal or failure while connecting, with the master's code. */
export class LinkFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LinkFailure';
  }
}

interface Pending {
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Open {
  pc: RTCPeerConnection;
  dc: RTCDataChannel;
  maxFrame: number;
}

/** The largest frame the offer's side accepts (`a=max-message-size`). */
export function offerMaxFrame(sdp: string): number {
  const m = /^a=max-message-size:(\d+)/m.exec(sdp);
  const n = m ? Number(m[1]) : 65_536;
  return Math.min(n === 0 ? MASTER_MAX_FRAME : n, MASTER_MAX_FRAME);
}

/** Wait before reconnect attempt `n` (0-based): doubling, capped, with jitter. */
export function backoff(n: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(n, 10));
  return Math.round(base * (0.75 + random() * 0.5));
}

/** Words for a connection attempt that failed without the master saying why. */
function unreachable(host: string, why: string): LinkFailure {
  return new LinkFailure('unavailable', `cannot reach the master at ${host}: ${why}`);
}

/**
 * Brings up the `db` channel: one attempt, hello to open channel. Rejects
 * with a LinkFailure carrying the master's refusal when there is one.
 */
export async function openChannel(opts: {
  signalUrl: string;
  host: string;
  identity: BrowserIdentity;
  master: string;
  deviceName: string;
  code?: string;
}): Promise<Open> {
  const { identity, master } = opts;
  const proof = opts.code ? await codeProof(opts.code, identity.fingerprint, master) : undefined;
  const ws = new WebSocket(opts.signalUrl);
  let pc: RTCPeerConnection | null = null;
  const inbox: any[] = [];
  let wake: (() => void) | null = null;
  let ended: LinkFailure | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  ws.onmessage = (e) => {
    if (typeof e.data !== 'string') return;
    try {
      inbox.push(JSON.parse(e.data));
    } catch {
      ended = new LinkFailure('bad_request', 'the master sent a signaling message that is not JSON');
    }
    poke();
  };
  ws.onclose = () => {
    ended ??= new LinkFailure('closed', 'the master closed the signaling socket');
    poke();
  };
  let dc: RTCDataChannel | null = null;
  let dcOpen = false;
  let failed: string | null = null;
  const deadline = Date.now() + HANDSHAKE_MS;

  // Waits for the open channel, a message, a failure, or the deadline.
  const until = async (what: string) => {
    while (true) {
      if (failed) throw unreachable(opts.host, failed);
      if (dcOpen || inbox.length > 0) return;
      if (ended && ended.code !== 'closed') throw ended;
      if (ended && !pc) throw unreachable(opts.host, `the signaling socket closed while ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw unreachable(opts.host, `no answer within ${HANDSHAKE_MS / 1000} s while ${what}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, Math.min(left, 250));
      });
    }
  };

  try {
    // Open the socket.
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(unreachable(opts.host, 'the signaling socket did not open')), SOCKET_OPEN_MS);
      ws.onopen = () => {
        clearTimeout(t);
        resolve();
      };
      ws.onerror = () => {
        clearTimeout(t);
        reject(unreachable(opts.host, 'the signaling socket could not be opened (is the master running?)'));
      };
    });
    ws.onerror = () => poke();
    const hello: Record<string, unknown> = { t: 'hello', v: 1, device: identity.fingerprint, name: opts.deviceName };
    if (proof) hello.proof = proof;
    ws.send(JSON.stringify(hello));

    // The offer, or a refusal.
    await until('waiting for the master’s offer');
    const first = inbox.shift();
    if (first?.t === 'refused') throw new LinkFailure(String(first.code), String(first.message));
    if (first?.t !== 'offer' || typeof first.sdp !== 'string') {
      throw new LinkFailure('bad_request', `expected an offer from the master, got ${first?.t ?? 'nothing'}`);
    }
    const wrong = sdpFingerprintMismatch(first.sdp, master);
    if (wrong) {
      throw new LinkFailure(
        MASTER_CHANGED,
        `the master answering at ${opts.host} is not the one this page was served by: its certificate is ${shortFingerprint(wrong)}, expected ${shortFingerprint(master)}`,
      );
    }
    const maxFrame = offerMaxFrame(first.sdp);
    pc = new RTCPeerConnection({ certificates: [identity.certificate], iceServers: [] });
    const conn = pc;
    conn.onicecandidate = (e) => {
      const c = e.candidate;
      if (c && c.candidate && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ t: 'candidate', candidate: c.candidate, mid: c.sdpMid ?? '0' }));
      }
    };
    conn.onconnectionstatechange = () => {
      if (conn.connectionState === 'failed') failed = 'no network path to the master (the WebRTC connection failed)';
      poke();
    };
    conn.ondatachannel = (e) => {
      if (e.channel.label !== 'db') return;
      dc = e.channel;
      dc.binaryType = 'arraybuffer';
      if (dc.readyState === 'open') dcOpen = true;
      dc.onopen = () => {
        dcOpen = true;
        poke();
      };
      poke();
    };
    await conn.setRemoteDescription({ type: 'offer', sdp: first.sdp });
    const answer = await conn.createAnswer();
    await conn.setLocalDescription(answer);
    ws.send(JSON.stringify({ t: 'answer', sdp: conn.localDescription?.sdp ?? answer.sdp }));

    // Candidates until the channel opens.
    while (!dcOpen) {
      await until('connecting');
      while (inbox.length > 0) {
        const m = inbox.shift();
        if (m?.t === 'candidate' && typeof m.candidate === 'string') {
          await conn
            .addIceCandidate({ candidate: m.candidate, sdpMid: m.mid ?? '0', sdpMLineIndex: 0 })
            .catch(() => undefined);
        } else if (m?.t === 'refused') {
          throw new LinkFailure(String(m.code), String(m.message));
        } else {
          throw new LinkFailure('bad_request', `unexpected ${m?.t ?? 'message'} from the master`);
        }
      }
    }
    ws.onclose = null;
    ws.close();
    const sendLimit = conn.sctp?.maxMessageSize || 65_536;
    return { pc: conn, dc: dc!, maxFrame: Math.min(maxFrame, sendLimit) };
  } catch (e) {
    ws.onclose = null;
    ws.close();
    pc?.close();
    throw e;
  }
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
  private link: LinkView = { state: 'idle' };
  private pending = new Map<string, Pending>();
  private reasm = new Reassembler(MAX_MESSAGE);
  private sendChain: Promise<void> = Promise.resolve();
  private attempt: Promise<void> | null = null;
  private retries = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private ready: Promise<void>;
  /** When the last connection attempt started (`performance.now()`, ms
   * since the page started), for the benchmark. */
  readonly timing = { attempt: 0 };

  constructor(
    private readonly origin: { host: string; base: string } = { host: location.host, base: location.origin },
    private readonly storage: Storage = localStorage,
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
    if (kept && kept.fingerprint !== this.served.fingerprint) {
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
    };
  }

  private setLink(l: LinkView) {
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
      const open = await this.dial(this.served!.fingerprint, deviceName, c);
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
    this.setLink({ state: this.retries === 0 ? 'connecting' : 'reconnecting', reason: this.link.reason });
    this.timing.attempt = performance.now();
    this.attempt = this.dial(kept.fingerprint, kept.device_name)
      .then((open) => {
        if (!this.kept()) {
          open.pc.close();
          return;
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
  private async dial(master: string, deviceName: string, code?: string): Promise<Open> {
    try {
      return await openChannel({
        signalUrl: this.signalUrl(),
        host: this.origin.host,
        identity: this.identity!,
        master,
        deviceName,
        code,
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
    const lost = () => {
      if (this.open !== open) return;
      this.drop('the connection to the master was lost');
      if (this.kept()) {
        this.setLink({ state: 'reconnecting', reason: 'the connection to the master was lost' });
        this.scheduleRetry();
      }
    };
    dc.onclose = lost;
    pc.onconnectionstatechange = () => {
      if (['failed', 'closed', 'disconnected'].includes(pc.connectionState)) lost();
    };
    this.setLink({ state: 'connected', master: this.served?.office });
    // Change events for every doctype; and a reload of whatever is shown,
    // since events may have been missed while away.
    void this.callOk('subscribe', {}).catch(() => undefined);
    this.emit('db-event', { ev: 'lagged', missed: 0 });
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
  private async dbCall(request: any): Promise<any> {
    if (!request || typeof request !== 'object' || request.id === undefined) {
      throw new ApiError('bad_request', 'a DB call needs a request envelope with an id');
    }
    await this.waitConnected();
    const open = this.open!;
    const key = String(request.id);
    const bytes = new TextEncoder().encode(JSON.stringify(request));
    if (bytes.length > MAX_MESSAGE) {
      throw new ApiError('too_large', `the request is ${bytes.length} bytes, over the ${MAX_MESSAGE}-byte limit`);
    }
    const answer = new Promise<any>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new ApiError('unavailable', `the master did not answer ${request.op} within ${CALL_MS / 1000} s`));
      }, CALL_MS);
      this.pending.set(key, { resolve, reject, timer });
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
  private async callOk(op: string, args: object = {}): Promise<any> {
    const resp = await this.dbCall({ v: 1, id: `b-${Date.now()}-${Math.random().toString(36).slice(2)}`, op, args });
    if (resp?.err) throw ApiError.from(resp.err);
    return resp?.ok;
  }
}

/** A name for this device the master lists until someone renames it. */
export function defaultDeviceName(ua: string = typeof navigator === 'undefined' ? '' : navigator.userAgent): string {
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrome\/|Chromium\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser';
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Windows/.test(ua)
        ? 'Windows'
        : /Mac OS X/.test(ua)
          ? 'Mac'
          : /Linux/.test(ua)
            ? 'Linux'
            : '';
  return os ? `${browser} on ${os}` : browser;
}
