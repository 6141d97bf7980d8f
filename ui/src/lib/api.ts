// The one module that talks to the backend (docs/desktop-api.md).
//
// Everything else in the UI calls `Api`; only the transports know how bytes
// travel. Under Tauri that is `invoke`/`listen`; in a page served by the
// master it is the browser's own WebRTC (rtc/browser.ts), which answers the
// same commands a slave needs. Nothing outside this file may import
// @tauri-apps/api.

import { invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';
import { ApiError } from './apiError';
import { EventHub } from './eventHub';

export { ApiError };

// ---------------------------------------------------------------------------
// Types of the contract (contract.ts), re-exported for the screens
// ---------------------------------------------------------------------------

export type * from './contract';
import type {
  BackupSettings,
  BackupView,
  DecodedQr,
  DeleteArgs,
  DeviceView,
  FirstManager,
  FoundMasterView,
  HistoryEntry,
  Keep,
  Op,
  Pairing,
  Parked,
  PrintAnswer,
  SavedFile,
  UpdateStarted,
  QueryArgs as WireQueryArgs,
  Request,
  Response,
  Probe,
  SignInAnswer,
  StandbyView,
  SyncView,
  WritePolicy,
  StrayList,
  UpstreamForm,
  UpstreamFormView,
  User,
} from './generated';
import type {
  DbEvent,
  DbRecord,
  Doctype,
  JsonRecord,
  QueryArgs,
  RolesList,
  Status,
  SyncConflict,
} from './contract';

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

/** An op's name on the wire (`get`, `sync.status` ...). */
export type OpName = Op['op'];
/** The arguments op `N` takes (`{}` for an op without any). */
export type ArgsOf<N extends OpName> = Extract<Op, { op: N }> extends { args: infer A } ? A : Record<string, never>;

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

function isDbEvent(p: any): p is DbEvent {
  if (!p || typeof p !== 'object') return false;
  if (p.ev === 'changed') return typeof p.doctype === 'string' && typeof p.name === 'string';
  return p.ev === 'lagged';
}

export class Api {
  readonly ids: IdSource;
  private hub: EventHub;
  /** Told when an answer says the window's sign-in is needed or ended. */
  signInLost: ((e: ApiError) => void) | null = null;

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
  envelope<N extends OpName>(op: N, args: ArgsOf<N> = {} as ArgsOf<N>): Request {
    return { v: 1, id: this.ids.next(), op, args } as Request;
  }

  /** Sends one DB call; returns its `ok` or throws its `err` as ApiError. */
  async call<N extends OpName, T = any>(op: N, args: ArgsOf<N> = {} as ArgsOf<N>): Promise<T> {
    const request = this.envelope(op, args);
    const resp = await this.cmd<Partial<Response> | null>('db_call', { request });
    if (!resp || typeof resp !== 'object') {
      throw new ApiError('internal', `the app sent no answer to ${op}`);
    }
    if (resp.id !== undefined && resp.id !== null && resp.id !== request.id) {
      throw new ApiError(
        'internal',
        `the answer to ${op} belongs to another call (id ${resp.id}, expected ${request.id})`,
      );
    }
    if ('err' in resp && resp.err) {
      const e = ApiError.from(resp.err);
      if (e.code === 'unauthorized' && op !== 'auth.sign_in' && op !== 'auth.resume') this.signInLost?.(e);
      throw e;
    }
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
    return this.call('insert', { doctype, record: record as JsonRecord });
  }

  update(doctype: string, name: string, rev: number, record: object): Promise<DbRecord> {
    return this.call('update', { doctype, name, rev, record: record as JsonRecord });
  }

  delete(doctype: string, name: string, rev?: number): Promise<any> {
    const args: DeleteArgs = { doctype, name };
    if (rev !== undefined) args.rev = rev;
    return this.call('delete', args);
  }

  async query(args: QueryArgs): Promise<DbRecord[]> {
    const out: { rows?: DbRecord[] } | null = await this.call('query', clean(args));
    return out?.rows ?? [];
  }

  async count(args: QueryArgs): Promise<number> {
    const { doctype, query, filters } = args;
    const n: unknown = await this.call('count', clean({ doctype, query, filters }));
    return Number(n) || 0;
  }

  // ---- people (issue 14) ----------------------------------------------------

  signIn(user: string, password: string): Promise<SignInAnswer> {
    return this.call('auth.sign_in', { user, password });
  }

  resume(token: string): Promise<SignInAnswer> {
    return this.call('auth.resume', { token });
  }

  signOut(): Promise<unknown> {
    return this.call('auth.sign_out');
  }

  /** A browser tab's kept sign-in (a reload resumes it); none on the desktop. */
  async signInKept(): Promise<SignInAnswer | null> {
    return this.browser ? this.cmd<SignInAnswer | null>('sign_in_kept') : null;
  }

  /** A record's document as PDF, made by the master (docs/print.md). */
  print(doctype: string, name: string, format: string): Promise<PrintAnswer> {
    return this.call('print', { doctype, name, format });
  }

  /** Desktop only: saves a PDF in the Downloads folder; `open` starts the system's PDF viewer on it (its Print… is the system print dialog). */
  pdfSave(pdf: PrintAnswer, open: boolean): Promise<SavedFile> {
    return this.cmd('pdf_save', { fileName: pdf.file_name, pdfBase64: pdf.pdf_base64, open });
  }

  /** Desktop: an export (CSV or XLSX) into the Downloads folder. */
  sheetSave(fileName: string, dataBase64: string): Promise<SavedFile> {
    return this.cmd('sheet_save', { fileName, dataBase64 });
  }

  /** Desktop slave: downloads the master's newer Outpost, checks its SHA-256 against the one the master gave over the channel, and starts the system's installer on it. */
  updateInstall(): Promise<UpdateStarted> {
    return this.cmd('update_install');
  }

  /** Every write to a record, oldest first: who, which PC, each field before and after. */
  history(doctype: string, name: string): Promise<HistoryEntry[]> {
    return this.call('history', { doctype, name });
  }

  usersList(): Promise<User[]> {
    return this.call('users.list');
  }

  usersAdd(name: string, role: string, password: string): Promise<User> {
    return this.call('users.add', { name, role, password });
  }

  /** Sets `name`'s password: an administrator of users sets anyone's;
   * a person sets their own, giving `current`. */
  usersPasswd(name: string, password: string, current?: string): Promise<User> {
    return this.call('users.passwd', current === undefined ? { name, password } : { name, password, current });
  }

  usersDisable(name: string): Promise<User> {
    return this.call('users.disable', { name });
  }

  usersEnable(name: string): Promise<User> {
    return this.call('users.enable', { name });
  }

  usersRole(name: string, role: string): Promise<User> {
    return this.call('users.role', { name, role });
  }

  rolesList(): Promise<RolesList> {
    return this.call('roles.list');
  }

  /** The site's idle lock in minutes (0: never); needs the master right. */
  setIdleLock(minutes: number): Promise<{ idle_lock_minutes: number }> {
    return this.call('site.idle_lock', { minutes });
  }

  /** Whether this PC's office database has users (the first-manager fields are asked otherwise). */
  officeHasUsers(): Promise<boolean> {
    return this.cmd('office_has_users');
  }

  status(): Promise<Status> {
    return this.cmd('app_status');
  }

  /** `manager`: the office's first manager, made before the master starts. */
  masterEnable(name: string, port?: number, manager?: FirstManager): Promise<Status> {
    const args: Record<string, unknown> = { name };
    if (port !== undefined) args.port = port;
    if (manager) args.manager = manager;
    return this.cmd('master_enable', args);
  }

  masterDisable(force: boolean): Promise<Status> {
    return this.cmd('master_disable', { force });
  }

  /** The office's postal address, as its documents print it (master only). */
  officeAddress(): Promise<string> {
    return this.cmd('office_address');
  }

  officeAddressSet(address: string): Promise<string> {
    return this.cmd('office_address_set', { address });
  }

  pairingInfo(): Promise<Pairing> {
    return this.cmd('pairing_info');
  }

  pairingRenew(): Promise<Pairing> {
    return this.cmd('pairing_renew');
  }

  devicesList(): Promise<DeviceView[]> {
    return this.cmd('devices_list');
  }

  deviceRevoke(fingerprint: string): Promise<DeviceView> {
    return this.cmd('device_revoke', { fingerprint });
  }

  mastersDiscover(): Promise<FoundMasterView[]> {
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

  qrDecode(image: Uint8Array | number[]): Promise<DecodedQr> {
    return this.cmd('qr_decode', { image: Array.from(image) });
  }

  takeOpenUrl(): Promise<string | null> {
    return this.cmd('take_open_url');
  }

  /** Settings → Head office: the saved head office as a form (never its password). */
  upstreamForm(): Promise<UpstreamFormView> {
    return this.cmd('upstream_form');
  }

  /** Signs in to the head office the form describes and says what is there; saves nothing. */
  upstreamTest(form: UpstreamForm): Promise<Probe> {
    return this.cmd('upstream_test', { form });
  }

  /** Saves the form as the upstream file (in the data folder) and restarts the sync with it. */
  upstreamSave(form: UpstreamForm): Promise<SyncView> {
    return this.cmd('upstream_save', { form });
  }

  /** Sets the upstream TOML file (`null` or blank: no upstream). */
  upstreamSet(path: string | null): Promise<SyncView> {
    const p = path?.trim();
    return this.cmd('upstream_set', { path: p ? p : null });
  }

  /** The head-office sync; on a slave the shell asks the master. */
  syncStatus(): Promise<SyncView> {
    return this.cmd('sync_status');
  }

  /** Runs a full cycle now (master only; can take minutes). */
  syncNow(): Promise<SyncView> {
    return this.cmd('sync_now');
  }

  /** Conflicts, newest first: the open ones, or all with `all`. */
  syncConflicts(all = false): Promise<SyncConflict[]> {
    return this.cmd('sync_conflicts', { all });
  }

  syncResolve(id: number, keep: Keep): Promise<SyncConflict> {
    return this.cmd('sync_resolve', { id, keep });
  }

  syncParked(): Promise<Parked[]> {
    return this.cmd('sync_parked');
  }

  /** Settings → Backups: the saved schedule, or the defaults with a blank folder. */
  backupForm(): Promise<BackupSettings> {
    return this.cmd('backup_form');
  }

  /** Saves the backup schedule (a blank folder turns it off); the master backs up at once. */
  backupSettingsSave(form: BackupSettings): Promise<BackupSettings> {
    return this.cmd('backup_settings_save', { form });
  }

  /** The master's backups: schedule, health, last attempt, last good backup. */
  backupView(): Promise<BackupView> {
    return this.cmd('backup_view');
  }

  /** Backs up now into the schedule's folder and waits for it (master only). */
  backupNow(): Promise<BackupView> {
    return this.cmd('backup_now');
  }

  /** The office's standby and its lag, and whether this master was fenced (master only). */
  standbyView(): Promise<StandbyView> {
    return this.cmd('standby_view');
  }

  /** "Make standby": this approved device becomes the office's standby, in place of any other. */
  deviceMakeStandby(fingerprint: string): Promise<StandbyView> {
    return this.cmd('device_make_standby', { fingerprint });
  }

  /** "No standby": the office has none any more. */
  deviceClearStandby(): Promise<StandbyView> {
    return this.cmd('device_clear_standby');
  }

  /** Writes this PC took as a former master that never reached the office, listed aside (never merged). */
  strayWrites(): Promise<StrayList[]> {
    return this.cmd('stray_writes');
  }

  /** The standby card's choice of how writes are answered: saved, and taken by the running master from its next write. */
  writePolicySave(policy: WritePolicy): Promise<StandbyView> {
    return this.cmd('write_policy_save', { policy });
  }

  /** "Make this PC the office's master", on the standby once its master is gone: the window becomes the master's. */
  standbyPromote(): Promise<Status> {
    return this.cmd('standby_promote');
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
function clean(args: QueryArgs): WireQueryArgs {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined || v === null) continue;
    if (k === 'query' && typeof v === 'string' && v.trim() === '') continue;
    if (k === 'filters' && Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out as unknown as WireQueryArgs;
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
