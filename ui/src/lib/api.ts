// The one module that talks to the backend (docs/desktop-api.md).
//
// Everything else in the UI calls `Api`; only the transports know how bytes
// travel. Under Tauri that is `invoke`/`listen`; in a page served by the
// master it is the browser's own WebRTC (rtc/browser.ts), which answers the
// same commands a slave needs. Nothing outside this file may import
// @tauri-apps/api.

import { invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';

// ---------------------------------------------------------------------------
// Types of the contract
// ---------------------------------------------------------------------------

export type Role = 'none' | 'master' | 'slave';

export interface LinkView {
  /** `failed`: master mode is on but could not start (port taken ...). */
  state: 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'refused' | 'failed';
  master?: string;
  reason?: string;
  code?: string;
  message?: string;
}

export interface MasterRef {
  name: string;
  fingerprint: string;
  short: string;
  addr: string;
}

export interface Status {
  role: Role;
  device_id: string;
  device_short: string;
  office_name: string | null;
  master: MasterRef | null;
  link: LinkView;
  devices_connected: number;
  listen: string | null;
  data_dir: string;
}

export interface Pairing {
  url: string;
  code: string;
  expires: number;
  minutes_left: number;
  qr_svg: string;
  /** `http://HOST:PORT/` when the master serves the web UI to browsers. */
  browser_url?: string | null;
}

export interface Device {
  fingerprint: string;
  short: string;
  name: string;
  first_seen: string;
  last_seen: string;
  state: 'approved' | 'revoked';
  connected: boolean;
}

export type FoundMaster = MasterRef;

/**
 * The master's sync with the head office. On a slave the shell asks the
 * master, whose answer has no `upstream_file`/`upstream_error` (desktop
 * master only): read them as possibly absent.
 */
export interface SyncStatus {
  /** An upstream is configured (and was started at least once). */
  configured: boolean;
  /** A worker is syncing this master's data now. */
  running: boolean;
  /** Desktop master only: the upstream file's path in the settings. */
  upstream_file: string | null;
  /** Desktop master only: why the worker could not start. */
  upstream_error: string | null;
  kind: 'tryton' | 'erpnext' | null;
  url: string | null;
  link: LinkState;
  /** Words for a person beside the state ("check user and password"). */
  hint: string | null;
  /** UTC RFC 3339. */
  last_success: string | null;
  last_attempt: string | null;
  last_error: string | null;
  next_attempt: string | null;
  outbox_pending: number;
  parked: number;
  /** Open conflicts. */
  conflicts: number;
  /** The open conflicts with both versions (newest first, at most 100). */
  open_conflicts?: SyncConflict[];
  bytes: { sent_today: number; received_today: number; sent_total: number; received_total: number };
}

/** The state of the link to the head office. */
export type LinkState = 'not_configured' | 'stopped' | 'starting' | 'up' | 'down' | 'refused' | 'error';

export type SyncKeep = 'local' | 'remote';

export interface SyncConflict {
  id: number;
  doctype: string;
  name: string | null;
  remote_id: string | null;
  /** `local/remote` operations: "modify/modify", "create/create",
   *  "modify/delete", "delete/modify", "-/refused". */
  kind: string;
  /** The office's record (null if deleted here). */
  local: Record<string, unknown> | null;
  /** The head office's version, in Outpost field names. */
  remote: { values: Record<string, unknown>; active: boolean; gone: boolean };
  /** For "-/refused": why it could not be stored here. */
  reason: string | null;
  state: 'open' | 'kept_local' | 'kept_remote';
  requested: string | null;
  at: string;
  resolved_at: string | null;
}

/** An entry the head office refused, with its message. */
export interface SyncParked {
  seq: number;
  doctype: string;
  name: string;
  op: string;
  message: string;
  at: string;
}

export type FieldType =
  | 'data'
  | 'text'
  | 'int'
  | 'float'
  | 'currency'
  | 'date'
  | 'datetime'
  | 'check'
  | 'select'
  | 'link'
  | 'table';

export interface Field {
  name: string;
  type: FieldType;
  label?: string;
  required?: boolean;
  unique?: boolean;
  indexed?: boolean;
  in_list?: boolean;
  options?: string[];
  link?: string;
  table?: string;
  compute?: string;
  precision?: number;
  /** Set by the head office only (a sale's number there): shown, never sent. */
  read_only?: boolean;
}

export interface Doctype {
  name: string;
  description?: string;
  child?: boolean;
  title_field?: string;
  sync?: boolean;
  fields: Field[];
  list_fields: string[];
}

/** A record as the master returns it: system columns plus the fields. */
export type DbRecord = Record<string, any> & {
  name: string;
  rev: number;
  doctype?: string;
  created?: string;
  modified?: string;
  modified_by?: string;
};

export type Filter = [string, string, unknown];

export interface QueryArgs {
  doctype: string;
  query?: string;
  filters?: unknown;
  fields?: string[];
  sort?: string;
  limit?: number;
  offset?: number;
}

export interface ChangedEvent {
  ev: 'changed';
  doctype: string;
  name: string;
  rev: number;
  op: string;
  seq: number;
  device: string;
}
export interface LaggedEvent {
  ev: 'lagged';
  missed: number;
}
export type DbEvent = ChangedEvent | LaggedEvent;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** An error from the master or the app: a code, words for a clerk, details. */
export class ApiError extends Error {
  readonly code: string;
  readonly details: any;

  constructor(code: string, message: string, details?: any) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = details ?? null;
  }

  /**
   * The app's own condition (`devices_connected`, `not_master`,
   * `not_slave`): the code itself, or the details' reason when the shell
   * sends it under a protocol code (`conflict` + reason `devices_connected`).
   */
  is(reason: string): boolean {
    return this.code === reason || this.details?.reason === reason;
  }

  /** Whatever a command rejected with, as an ApiError. */
  static from(e: unknown): ApiError {
    if (e instanceof ApiError) return e;
    if (e && typeof e === 'object') {
      const o = e as Record<string, unknown>;
      if (typeof o.code === 'string' && typeof o.message === 'string') {
        return new ApiError(o.code, o.message, o.details);
      }
      if (e instanceof Error) return new ApiError('internal', e.message);
    }
    if (typeof e === 'string' && e.length > 0) return new ApiError('internal', e);
    return new ApiError('internal', 'the app did not answer as expected');
  }
}

// ---------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------

export interface Transport {
  /** `browser`: a page served by the master (no master-only screens). */
  readonly kind?: 'desktop' | 'browser';
  invoke(cmd: string, args?: object): Promise<any>;
  listen(event: string, cb: (payload: any) => void): Promise<() => void>;
}

export const tauriTransport: Transport = {
  kind: 'desktop',
  invoke(cmd, args) {
    return tauriInvoke(cmd, args as Record<string, unknown> | undefined);
  },
  async listen(event, cb) {
    return tauriListen(event, (e) => cb(e.payload));
  },
};

// ---------------------------------------------------------------------------
// Api
// ---------------------------------------------------------------------------

export interface Envelope {
  v: 1;
  id: number;
  op: string;
  args: object;
}

/**
 * Request ids. Writes are remembered by id for days (a retried write is
 * answered from the stored result), so ids must not restart at 1 when the
 * app does: they are the clock in microseconds plus a random offset chosen
 * once (so two copies of the UI on one device do not pick the same ids in
 * the same millisecond), and they only go up.
 */
export class IdSource {
  private last = 0;
  private readonly offset: number;

  constructor(
    private clock: () => number = Date.now,
    random: () => number = Math.random,
  ) {
    this.offset = Math.min(999, Math.max(0, Math.floor(random() * 1000)));
  }

  next(): number {
    const t = Math.floor(this.clock()) * 1000 + this.offset;
    this.last = Math.max(this.last + 1, t);
    return this.last;
  }
}

type Listener = (payload: any) => void;

/** One transport listener for one event, shared by its subscribers. */
interface Channel {
  subs: Set<Listener>;
  ready: Promise<void>;
  un: (() => void) | null;
  closed: boolean;
}

/** One transport listener per event, shared by every subscriber. */
class EventHub {
  private channels = new Map<string, Channel>();

  constructor(private transport: Transport) {}

  private open(event: string): Channel {
    const ch: Channel = { subs: new Set(), ready: Promise.resolve(), un: null, closed: false };
    ch.ready = this.transport
      .listen(event, (payload) => {
        if (!ch.closed) this.dispatch(event, ch, payload);
      })
      .then((un) => {
        ch.un = un;
        // The last subscriber left before the listener was ready.
        if (ch.closed) un();
      });
    ch.ready.catch(() => {
      ch.closed = true;
      if (this.channels.get(event) === ch) this.channels.delete(event);
    });
    this.channels.set(event, ch);
    return ch;
  }

  subscribe(event: string, cb: Listener): Promise<() => void> {
    const ch = this.channels.get(event) ?? this.open(event);
    // A wrapper, so one callback subscribed twice is two subscriptions.
    const entry: Listener = (p) => cb(p);
    ch.subs.add(entry);
    const off = () => {
      if (!ch.subs.delete(entry) || ch.subs.size > 0 || ch.closed) return;
      ch.closed = true;
      if (this.channels.get(event) === ch) this.channels.delete(event);
      ch.un?.();
    };
    return ch.ready.then(
      () => off,
      (e) => {
        ch.subs.delete(entry);
        throw ApiError.from(e);
      },
    );
  }

  private dispatch(event: string, ch: Channel, payload: unknown) {
    for (const cb of [...ch.subs]) {
      try {
        cb(payload);
      } catch (e) {
        console.error(`outpost: a ${event} handler failed`, e);
      }
    }
  }

  /** Number of transport listeners held open (for tests). */
  get listening(): number {
    return this.channels.size;
  }
}

function isDbEvent(p: any): p is DbEvent {
  if (!p || typeof p !== 'object') return false;
  if (p.ev === 'changed') return typeof p.doctype === 'string' && typeof p.name === 'string';
  return p.ev === 'lagged';
}

export class Api {
  readonly ids: IdSource;
  private hub: EventHub;

  constructor(
    private transport: Transport,
    opts: { clock?: () => number; random?: () => number } = {},
  ) {
    this.ids = new IdSource(opts.clock, opts.random);
    this.hub = new EventHub(transport);
  }

  /** A page in a browser, not the desktop app. */
  get browser(): boolean {
    return this.transport.kind === 'browser';
  }

  // ---- commands -----------------------------------------------------------

  private async cmd<T>(name: string, args?: object): Promise<T> {
    try {
      return (await this.transport.invoke(name, args)) as T;
    } catch (e) {
      throw ApiError.from(e);
    }
  }

  /** Builds the request envelope of one DB call. */
  envelope(op: string, args: object = {}): Envelope {
    return { v: 1, id: this.ids.next(), op, args };
  }

  /** Sends one DB call; returns its `ok` or throws its `err` as ApiError. */
  async call<T = any>(op: string, args: object = {}): Promise<T> {
    const request = this.envelope(op, args);
    const resp = await this.cmd<any>('db_call', { request });
    if (!resp || typeof resp !== 'object') {
      throw new ApiError('internal', `the app sent no answer to ${op}`);
    }
    if (resp.id !== undefined && resp.id !== null && resp.id !== request.id) {
      throw new ApiError(
        'internal',
        `the answer to ${op} belongs to another call (id ${resp.id}, expected ${request.id})`,
      );
    }
    if ('err' in resp && resp.err) throw ApiError.from(resp.err);
    if ('ok' in resp) return resp.ok as T;
    throw new ApiError('internal', `the answer to ${op} has neither ok nor err`);
  }

  doctypes(): Promise<Doctype[]> {
    return this.call('doctypes');
  }

  get(doctype: string, name: string): Promise<DbRecord> {
    return this.call('get', { doctype, name });
  }

  insert(doctype: string, record: object): Promise<DbRecord> {
    return this.call('insert', { doctype, record });
  }

  update(doctype: string, name: string, rev: number, record: object): Promise<DbRecord> {
    return this.call('update', { doctype, name, rev, record });
  }

  delete(doctype: string, name: string, rev?: number): Promise<any> {
    const args: Record<string, unknown> = { doctype, name };
    if (rev !== undefined) args.rev = rev;
    return this.call('delete', args);
  }

  async query(args: QueryArgs): Promise<DbRecord[]> {
    const out = await this.call<{ rows: DbRecord[] }>('query', clean(args));
    return out?.rows ?? [];
  }

  async count(args: QueryArgs): Promise<number> {
    const { doctype, query, filters } = args;
    const n = await this.call<number>('count', clean({ doctype, query, filters }));
    return Number(n) || 0;
  }

  status(): Promise<Status> {
    return this.cmd('app_status');
  }

  masterEnable(name: string, port?: number): Promise<Status> {
    return this.cmd('master_enable', port === undefined ? { name } : { name, port });
  }

  masterDisable(force: boolean): Promise<Status> {
    return this.cmd('master_disable', { force });
  }

  pairingInfo(): Promise<Pairing> {
    return this.cmd('pairing_info');
  }

  pairingRenew(): Promise<Pairing> {
    return this.cmd('pairing_renew');
  }

  devicesList(): Promise<Device[]> {
    return this.cmd('devices_list');
  }

  deviceRevoke(fingerprint: string): Promise<Device> {
    return this.cmd('device_revoke', { fingerprint });
  }

  mastersDiscover(): Promise<FoundMaster[]> {
    return this.cmd('masters_discover');
  }

  /** `name`: how the master lists this device (browsers; the desktop app
   * sends the PC's own name). */
  slaveConnect(target: string, code?: string, name?: string): Promise<Status> {
    const c = code?.trim();
    const args: Record<string, string> = { target };
    if (c) args.code = c;
    if (name) args.name = name;
    return this.cmd('slave_connect', args);
  }

  slaveForget(): Promise<Status> {
    return this.cmd('slave_forget');
  }

  qrDecode(image: Uint8Array | number[]): Promise<{ url: string }> {
    return this.cmd('qr_decode', { image: Array.from(image) });
  }

  takeOpenUrl(): Promise<string | null> {
    return this.cmd('take_open_url');
  }

  /** Sets the upstream TOML file (`null` or blank: no upstream). */
  upstreamSet(path: string | null): Promise<SyncStatus> {
    const p = path?.trim();
    return this.cmd('upstream_set', { path: p ? p : null });
  }

  /** The head-office sync; on a slave the shell asks the master. */
  syncStatus(): Promise<SyncStatus> {
    return this.cmd('sync_status');
  }

  /** Runs a full cycle now (master only; can take minutes). */
  syncNow(): Promise<SyncStatus> {
    return this.cmd('sync_now');
  }

  /** Conflicts, newest first: the open ones, or all with `all`. */
  syncConflicts(all = false): Promise<SyncConflict[]> {
    return this.cmd('sync_conflicts', { all });
  }

  syncResolve(id: number, keep: SyncKeep): Promise<SyncConflict> {
    return this.cmd('sync_resolve', { id, keep });
  }

  syncParked(): Promise<SyncParked[]> {
    return this.cmd('sync_parked');
  }

  // ---- events -------------------------------------------------------------

  onDbEvent(cb: (e: DbEvent) => void): Promise<() => void> {
    return this.hub.subscribe('db-event', (p) => {
      if (isDbEvent(p)) cb(p);
    });
  }

  onStatus(cb: (s: Status) => void): Promise<() => void> {
    return this.hub.subscribe('status', (p) => {
      if (p && typeof p === 'object' && typeof p.role === 'string') cb(p as Status);
    });
  }

  onOpenUrl(cb: (url: string) => void): Promise<() => void> {
    return this.hub.subscribe('open-url', (p) => {
      if (typeof p === 'string' && p.length > 0) cb(p);
    });
  }

  /** Transport listeners held open (one per event with subscribers). */
  get listening(): number {
    return this.hub.listening;
  }
}

/** Drops undefined, empty-string query and empty filter arguments. */
function clean(args: QueryArgs): QueryArgs {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined || v === null) continue;
    if (k === 'query' && typeof v === 'string' && v.trim() === '') continue;
    if (k === 'filters' && Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out as unknown as QueryArgs;
}

/**
 * Subscribes now and returns a synchronous cleanup, for effects that must
 * undo a subscription whose promise may not have settled yet.
 */
export function subscription(p: Promise<() => void>): () => void {
  let done = false;
  let off: (() => void) | null = null;
  p.then(
    (u) => {
      if (done) u();
      else off = u;
    },
    (e) => console.error('outpost: cannot listen to app events', e),
  );
  return () => {
    done = true;
    off?.();
    off = null;
  };
}
