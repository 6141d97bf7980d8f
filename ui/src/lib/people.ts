// Who works in this window (issue 14): the sign-in state, what the
// person's role lets the screens show, and the idle lock. The master is
// the authority: whatever is shown or hidden here, it checks every call.

import type { AccessRole, AdminRight, Rights, SignInAnswer } from './generated';
import { ApiError } from './api';

export type { AdminRight, Rights, SignInAnswer } from './generated';

/** Why the sign-in screen is shown. */
export type SignedOutWhy =
  /** The master asks who is working (its office has users). */
  | 'needed'
  /** The sign-in expired, or the person's password or state changed. */
  | 'ended'
  /** Nobody touched the window for the site's idle minutes. */
  | 'locked'
  /** "Switch user": the next person signs in. */
  | 'switch'
  /** "Sign out". */
  | 'signed_out';

export type Session =
  /** Not known yet whether this office asks anyone to sign in. */
  | { state: 'unknown' }
  /** An office without users: everyone may do everything. */
  | { state: 'open' }
  | { state: 'signed_out'; why: SignedOutWhy; lastUser: string }
  | { state: 'signed_in'; who: SignInAnswer };

const ALL: Rights = { read: true, create: true, write: true, delete: true, own_only: false };
const NONE: Rights = { read: false, create: false, write: false, delete: false, own_only: false };
/** The roles' catch-all entry (crates/api/src/roles.rs `ANY_DOCTYPE`). */
const ANY_DOCTYPE = '*';

/** What the person may do with `doctype`'s records (the master's rule:
 * the doctype's own entry, else the catch-all, else nothing). */
export function rightsOf(session: Session, doctype: string): Rights {
  switch (session.state) {
    case 'open':
      return ALL;
    case 'signed_in': {
      const d = session.who.rights.doctypes;
      return d[doctype] ?? d[ANY_DOCTYPE] ?? NONE;
    }
    default:
      return NONE;
  }
}

/** Whether the person holds an administration right (devices, users ...). */
export function mayAdmin(session: Session, right: AdminRight): boolean {
  if (session.state === 'open') return true;
  return session.state === 'signed_in' && session.who.rights.admin.includes(right);
}

/** Whether an error means the window must (again) ask who is working. */
export function signInNeeded(e: unknown): SignedOutWhy | null {
  const x = ApiError.from(e);
  if (x.code !== 'unauthorized') return null;
  if (x.details?.reason === 'sign_in_needed') return 'needed';
  if (x.details?.reason === 'sign_in_ended') return 'ended';
  return null;
}

/** The sign-in screen's line saying why it is shown. */
export function signedOutText(why: SignedOutWhy, lastUser: string): string {
  switch (why) {
    case 'needed':
      return 'This office asks who is working: sign in with your name and password.';
    case 'ended':
      return 'Your sign-in has ended (it expired, or your password or account changed): sign in again.';
    case 'locked':
      return lastUser
        ? `Locked after a while without use. ${lastUser}, sign in again to go on.`
        : 'Locked after a while without use: sign in again to go on.';
    case 'switch':
      return lastUser ? `${lastUser} signed out. The next person signs in here.` : 'The next person signs in here.';
    case 'signed_out':
      return 'Signed out.';
  }
}

/** "read, create, write" ... for one doctype's rights; "nothing" when none. */
export function rightsWords(r: Rights): string {
  const words = (['read', 'create', 'write', 'delete'] as const).filter((k) => r[k]);
  if (!words.length) return 'nothing';
  return r.own_only && (r.write || r.delete) ? `${words.join(', ')} (own records only)` : words.join(', ');
}

const ADMIN_WORDS: Record<AdminRight, string> = {
  devices: 'devices',
  master: 'master settings',
  upstream: 'head office',
  users: 'users',
  backups: 'backups',
};

/** A role's rights as the Users section lists them: one line per set of
 * doctypes with the same rights ("Party, Sale: read, create, write"),
 * the catch-all last as "Everything else", then the administration. */
export function roleSummary(role: AccessRole): { records: string[]; admin: string } {
  const groups = new Map<string, string[]>();
  for (const [doctype, rights] of Object.entries(role.doctypes)) {
    if (doctype === ANY_DOCTYPE) continue;
    const w = rightsWords(rights);
    groups.set(w, [...(groups.get(w) ?? []), doctype]);
  }
  const records = [...groups].map(([w, doctypes]) => `${doctypes.sort().join(', ')}: ${w}`);
  const rest = role.doctypes[ANY_DOCTYPE];
  records.push(`${records.length ? 'Everything else' : 'Every record'}: ${rest ? rightsWords(rest) : 'nothing'}`);
  const admin = role.admin.length ? role.admin.map((a) => ADMIN_WORDS[a]).join(', ') : 'none';
  return { records, admin };
}

/** How often a window asks the master again who it is (its role, rights
 * and the site's idle lock may change while someone is signed in). */
export const SEAT_CHECK_MS = 10_000;

/** What changed between two answers about the same sign-in. */
export function seatChanges(before: SignInAnswer, now: SignInAnswer): { rights: boolean; idle: boolean } {
  return {
    rights: before.role !== now.role || JSON.stringify(before.rights) !== JSON.stringify(now.rights),
    idle: before.idle_lock_minutes !== now.idle_lock_minutes,
  };
}

/** The status bar's words for who is working. */
export function whoText(session: Session): string | null {
  return session.state === 'signed_in' ? `${session.who.user} (${session.who.role})` : null;
}

export interface Timers {
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Signs the window out after `minutes` without a key press, click or
 * touch (the site's setting; 0: never). `touch` on every input restarts
 * the wait; `lock` is called once per wait that runs out.
 */
export class IdleLock {
  private minutes = 0;
  private handle: unknown = null;

  constructor(
    private readonly lock: () => void,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Arms the lock for `minutes` (0 or less: never), from now. */
  set(minutes: number) {
    this.minutes = Number.isFinite(minutes) && minutes > 0 ? minutes : 0;
    this.touch();
  }

  /** The person did something: the wait starts again. */
  touch() {
    this.clear();
    if (this.minutes <= 0) return;
    this.handle = this.timers.setTimeout(() => {
      this.handle = null;
      this.lock();
    }, this.minutes * 60_000);
  }

  /** No lock any more (signed out, or an office without users). */
  stop() {
    this.minutes = 0;
    this.clear();
  }

  get armed(): boolean {
    return this.handle !== null;
  }

  private clear() {
    if (this.handle !== null) this.timers.clearTimeout(this.handle);
    this.handle = null;
  }
}

/** One field's change as the History tab shows it. */
export interface ChangeLine {
  field: string;
  before: string;
  after: string;
}

/** A value of a history entry in words ("—" for none, rows counted). */
export function historyValue(v: unknown): string {
  if (v === null || v === undefined || v === '') return '—';
  if (Array.isArray(v)) return v.length === 1 ? '1 row' : `${v.length} rows`;
  if (typeof v === 'object') return JSON.stringify(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

/** Who made a change: the person, or "nobody signed in". */
export function historyWho(user: string | null): string {
  return user ?? 'nobody signed in';
}

/** Which PC made a change: its paired name, else its id (shortened) or label. */
export function historyDevice(device: string, deviceName: string | null): string {
  if (deviceName) return deviceName;
  return /^[0-9a-f]{16,}$/i.test(device) ? `${device.slice(0, 12)}…` : device;
}

/** A change's fields, in `order` (the doctype's) and then the rest. */
export function historyLines(
  fields: Record<string, { before: unknown; after: unknown } | undefined>,
  order: string[],
  labelOf: (name: string) => string,
): ChangeLine[] {
  const names = Object.keys(fields);
  names.sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib) || a.localeCompare(b);
  });
  return names.map((n) => ({
    field: labelOf(n),
    before: historyValue(fields[n]?.before),
    after: historyValue(fields[n]?.after),
  }));
}

/** The shortest password the master takes (crates/node/src/auth `MIN_PASSWORD`). */
export const MIN_PASSWORD = 8;

/** What is wrong with a new password typed twice, in words; null: fine. */
export function passwordProblem(password: string, again: string): string | null {
  if ([...password].length < MIN_PASSWORD) {
    return `The password is too short: use at least ${MIN_PASSWORD} characters (a few words are easy to remember).`;
  }
  if (password !== again) return 'The two passwords differ: type the same password twice.';
  return null;
}

/** A field of the first-manager form and what is wrong with it. */
export type ManagerProblem = { field: 'manager_name' | 'manager_password'; text: string };

/** What is wrong with the office's first manager as typed, naming the
 * field; null: fine. Both are needed: a master never runs an office where
 * nobody signs in. */
export function firstManagerProblem(name: string, password: string, again: string): ManagerProblem | null {
  if (!name.trim()) return { field: 'manager_name', text: 'Give the manager a name to sign in with.' };
  if (!password) {
    return {
      field: 'manager_password',
      text: 'Give the first manager a password: everyone signs in on the master, starting with its manager.',
    };
  }
  const problem = passwordProblem(password, again);
  return problem ? { field: 'manager_password', text: problem } : null;
}

/** A refusal of `master_enable` that names a first-manager field. */
export function managerFieldError(e: unknown): ManagerProblem | null {
  const x = ApiError.from(e);
  const field = x.details?.field;
  return field === 'manager_name' || field === 'manager_password' ? { field, text: x.message } : null;
}
