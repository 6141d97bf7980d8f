import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from './api';
import { IdleLock, mayAdmin, rightsOf, rightsWords, roleSummary, seatChanges, signInNeeded, signedOutText, whoText, type Session, type SignInAnswer } from './people';

const clerk: SignInAnswer = {
  user: 'bilal',
  role: 'Clerk',
  token: 't',
  expires: 0,
  idle_lock_minutes: 5,
  rights: {
    description: 'Clerk',
    admin: [],
    upstream_queries_per_day: 50,
    doctypes: {
      '*': { read: true, create: false, write: false, delete: false, own_only: false },
      Sale: { read: true, create: true, write: true, delete: false, own_only: false },
    },
  },
};
const manager: SignInAnswer = {
  ...clerk,
  user: 'amina',
  role: 'Manager',
  rights: {
    ...clerk.rights,
    admin: ['devices', 'master', 'upstream', 'users', 'backups'],
    doctypes: { '*': { read: true, create: true, write: true, delete: true, own_only: false } },
  },
};
const signedIn = (who: SignInAnswer): Session => ({ state: 'signed_in', who });

describe('rights → what the screens show', () => {
  it('an office without users shows everything', () => {
    const open: Session = { state: 'open' };
    expect(rightsOf(open, 'Party')).toMatchObject({ create: true, write: true, delete: true });
    expect(mayAdmin(open, 'users')).toBe(true);
  });

  it('a clerk gets the doctype entry, else the catch-all; no delete, no admin', () => {
    expect(rightsOf(signedIn(clerk), 'Sale')).toMatchObject({ read: true, create: true, write: true, delete: false });
    expect(rightsOf(signedIn(clerk), 'Party')).toMatchObject({ read: true, create: false, delete: false });
    expect(mayAdmin(signedIn(clerk), 'users')).toBe(false);
    expect(mayAdmin(signedIn(clerk), 'devices')).toBe(false);
  });

  it('a manager may delete and administer', () => {
    expect(rightsOf(signedIn(manager), 'Party').delete).toBe(true);
    expect(mayAdmin(signedIn(manager), 'users')).toBe(true);
    expect(mayAdmin(signedIn(manager), 'backups')).toBe(true);
  });

  it('a role without the doctype nor a catch-all shows nothing; nobody signed in shows nothing', () => {
    const narrow = { ...clerk, rights: { ...clerk.rights, doctypes: { Product: clerk.rights.doctypes.Sale } } };
    expect(rightsOf(signedIn(narrow), 'Sale').read).toBe(false);
    const out: Session = { state: 'signed_out', why: 'needed', lastUser: '' };
    expect(rightsOf(out, 'Sale').read).toBe(false);
    expect(mayAdmin(out, 'users')).toBe(false);
    expect(rightsOf({ state: 'unknown' }, 'Sale').create).toBe(false);
  });

  it('the status bar names the person and role', () => {
    expect(whoText(signedIn(clerk))).toBe('bilal (Clerk)');
    expect(whoText({ state: 'open' })).toBeNull();
  });
});

describe('answers that ask for the sign-in screen', () => {
  it('sign_in_needed and sign_in_ended do; a wrong password or forbidden do not', () => {
    expect(signInNeeded(new ApiError('unauthorized', 'sign in first', { reason: 'sign_in_needed' }))).toBe('needed');
    expect(signInNeeded({ code: 'unauthorized', message: 'ended', details: { reason: 'sign_in_ended' } })).toBe('ended');
    expect(signInNeeded(new ApiError('unauthorized', 'wrong', { reason: 'wrong_password' }))).toBeNull();
    expect(signInNeeded(new ApiError('forbidden', 'the role Clerk may not delete Party'))).toBeNull();
  });

  it('a locked window names the last person', () => {
    expect(signedOutText('locked', 'bilal')).toMatch(/bilal, sign in again/);
    expect(signedOutText('needed', '')).toMatch(/sign in/);
  });
});

describe('the idle lock', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('locks after the minutes without use, and input restarts the wait', () => {
    const lock = vi.fn();
    const idle = new IdleLock(lock);
    idle.set(2);
    vi.advanceTimersByTime(119_000);
    idle.touch();
    vi.advanceTimersByTime(119_000);
    expect(lock).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1_000);
    expect(lock).toHaveBeenCalledTimes(1);
    expect(idle.armed).toBe(false);
    // Once per wait: nothing more until armed again.
    vi.advanceTimersByTime(600_000);
    expect(lock).toHaveBeenCalledTimes(1);
  });

  it('0 minutes never locks; stop disarms', () => {
    const lock = vi.fn();
    const idle = new IdleLock(lock);
    idle.set(0);
    idle.touch();
    expect(idle.armed).toBe(false);
    idle.set(1);
    expect(idle.armed).toBe(true);
    idle.stop();
    idle.touch();
    vi.advanceTimersByTime(3_600_000);
    expect(lock).not.toHaveBeenCalled();
  });
});

describe('the History tab', () => {
  it('names nobody signed in, the paired PC, and each field before → after in the doctype order', async () => {
    const { historyDevice, historyLines, historyWho } = await import('./people');
    expect(historyWho(null)).toBe('nobody signed in');
    expect(historyWho('bilal')).toBe('bilal');
    expect(historyDevice('ab'.repeat(32), 'Counter tablet')).toBe('Counter tablet');
    expect(historyDevice('ab'.repeat(32), null)).toBe('abababababab…');
    expect(historyDevice('master-window', null)).toBe('master-window');
    const lines = historyLines(
      { city: { before: null, after: 'Hotan' }, party_name: { before: 'Acme', after: 'Acme Ltd' }, lines: { before: [], after: [{}, {}] } },
      ['party_name', 'city'],
      (n) => n.toUpperCase(),
    );
    expect(lines).toEqual([
      { field: 'PARTY_NAME', before: 'Acme', after: 'Acme Ltd' },
      { field: 'CITY', before: '—', after: 'Hotan' },
      { field: 'LINES', before: '0 rows', after: '2 rows' },
    ]);
  });
});

describe('new passwords', () => {
  it('too short or typed differently twice is refused in words', async () => {
    const { passwordProblem } = await import('./people');
    expect(passwordProblem('short', 'short')).toMatch(/too short/);
    expect(passwordProblem('long enough', 'long enougH')).toMatch(/differ/);
    expect(passwordProblem('long enough', 'long enough')).toBeNull();
  });
});

describe('the first manager', () => {
  it('needs a name and a password, each refused beside its own field', async () => {
    const { firstManagerProblem } = await import('./people');
    expect(firstManagerProblem('  ', 'long enough', 'long enough')?.field).toBe('manager_name');
    const blank = firstManagerProblem('manager', '', '');
    expect(blank?.field).toBe('manager_password');
    expect(blank?.text).toMatch(/password/);
    expect(firstManagerProblem('manager', 'short', 'short')?.text).toMatch(/too short/);
    expect(firstManagerProblem('manager', 'long enough', 'long enougH')?.text).toMatch(/differ/);
    expect(firstManagerProblem('manager', 'long enough', 'long enough')).toBeNull();
  });

  it("reads the field out of the master's refusal", async () => {
    const { managerFieldError } = await import('./people');
    const { ApiError } = await import('./api');
    const refusal = new ApiError('bad_request', 'too short', { reason: 'invalid_field', field: 'manager_password' });
    expect(managerFieldError(refusal)).toEqual({ field: 'manager_password', text: 'too short' });
    expect(managerFieldError(new ApiError('unavailable', 'port taken'))).toBeNull();
  });
});

describe('a role as the Users section lists it', () => {
  it('groups doctypes with the same rights and puts the rest last', () => {
    expect(roleSummary(clerk.rights)).toEqual({
      records: ['Sale: read, create, write', 'Everything else: read'],
      admin: 'none',
    });
    expect(roleSummary(manager.rights)).toEqual({
      records: ['Every record: read, create, write, delete'],
      admin: 'devices, master settings, head office, users, backups',
    });
  });

  it('says "own records only" where it narrows writes, and "nothing" where a role may not even read', () => {
    const own = { read: true, create: true, write: true, delete: false, own_only: true };
    expect(rightsWords(own)).toBe('read, create, write (own records only)');
    expect(rightsWords({ ...own, write: false, create: false })).toBe('read');
    const r = roleSummary({ ...clerk.rights, doctypes: { Sale: own, Party: own } });
    expect(r.records).toEqual(['Party, Sale: read, create, write (own records only)', 'Everything else: nothing']);
  });
});

describe('a sign-in checked again', () => {
  it('says whether the rights or the idle lock changed', () => {
    expect(seatChanges(clerk, { ...clerk })).toEqual({ rights: false, idle: false });
    expect(seatChanges(clerk, { ...clerk, role: 'Viewer', rights: { ...clerk.rights, doctypes: { '*': clerk.rights.doctypes['*'] } } })).toEqual({ rights: true, idle: false });
    expect(seatChanges(clerk, { ...clerk, idle_lock_minutes: 1 })).toEqual({ rights: false, idle: true });
  });
});
