// The types of the backend's contract that the UI reads (docs/desktop-api.md):
// the ones made from the Rust types, re-exported, and the few shapes the UI
// spells out on top of them. `api.ts` re-exports all of them, so screens
// import from there.

// ---------------------------------------------------------------------------
// Types of the contract
// ---------------------------------------------------------------------------

// Made from the Rust types (crates/app/src/typescript.rs); regenerate with
// `OUTPOST_WRITE_TS=1 cargo test -p outpost-app --lib typescript`.
import type {
  BackupSettings,
  BackupView,
  Conflict,
  DecodedQr,
  DeleteArgs,
  DoctypeView,
  DeviceView,
  Event,
  FirstManager,
  FoundMasterView,
  HistoryEntry,
  InsertArgs,
  Keep,
  LinkView,
  Op,
  Pairing,
  Parked,
  PrintAnswer,
  SavedFile,
  QueryArgs as WireQueryArgs,
  Request,
  Response,
  AccessRole,
  Probe,
  SignInAnswer,
  Status as StatusView,
  StandbyView,
  SyncView,
  WritePolicy,
  StrayList,
  UpstreamForm,
  UpstreamFormView,
  User,
} from './generated';

export type {
  Durability,
  StandbyDeviceView,
  StandbyHere,
  StandbyView,
  StrayList,
  WhenAway,
  WriteMode,
  WritePolicy,
} from './generated';
export type { PrintAnswer, SavedFile, UpdateStarted, UpdateView } from './generated';
export type {
  ApiError as ApiErrorBody,
  Attempt,
  BackupHealth,
  BackupInfo,
  BackupSettings,
  BackupView,
  DecodedQr,
  DeviceView,
  DoctypeChoice,
  ErrorCode,
  FieldChange,
  FirstManager,
  HistoryEntry,
  SignInAnswer,
  User,
  Field,
  FieldType,
  FoundMasterView,
  Keep,
  Kind,
  LinkState,
  LinkView,
  ModelProbe,
  Op,
  PairedView,
  Pairing,
  Parked,
  RecordSync,
  RecordSyncState,
  Request,
  Response,
  Probe,
  Role,
  SyncView,
  UpstreamForm,
  UpstreamFormView,
} from './generated';

/** `roles.list`: the master's roles, and what is wrong with the site's file. */
export interface RolesList {
  roles: Record<string, AccessRole>;
  problem: string | null;
}

/**
 * The connection with every state's fields readable, absent where a state
 * has none (the generated `LinkView` is the exact union).
 */
export type ConnectionLink = LinkView & Partial<Record<'master' | 'reason' | 'code' | 'message', string>>;

export type Status = Omit<StatusView, 'link'> & { link: ConnectionLink };

/**
 * A conflict with its two versions' shapes spelled out: the Rust type
 * carries them as stored JSON (`local` is the office's record, null when
 * deleted here; `remote` the head office's version in Outpost field names).
 */
export type SyncConflict = Omit<Conflict, 'local' | 'remote'> & {
  local: Record<string, unknown> | null;
  remote: { values: Record<string, unknown>; active: boolean; gone: boolean };
};

/** A doctype as the `doctypes` op gives it (generated from the Rust types). */
export type Doctype = DoctypeView;

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

/** `query` and `count` as the UI calls them: filters as the UI builds them (checked by the master). */
export type QueryArgs = Omit<WireQueryArgs, 'filters'> & { filters?: unknown };

/** A record's values as they go over the wire. */
export type JsonRecord = InsertArgs['record'];

export type ChangedEvent = Extract<Event, { ev: 'changed' }>;
export type LaggedEvent = Extract<Event, { ev: 'lagged' }>;
/** What reaches the page's subscribers: `replaced` is the link's own
 * (the master closes a channel the same device opened again elsewhere)
 * and stops at the link. */
export type DbEvent = ChangedEvent | LaggedEvent;
