// App-wide state: the Api, this PC's status, the doctypes, the screen shown,
// link titles, and the one in-page confirmation dialog.

import { untrack } from 'svelte';
import { Api, ApiError, subscription, type DbEvent, type Doctype, type FirstManager, type Status } from './api';
import { schemaOf, type Schema } from './form';
import { readPhoneInvite, type PhoneInvite } from './pairing';
import {
  IdleLock,
  mayAdmin,
  rightsOf,
  SEAT_CHECK_MS,
  seatChanges,
  signInNeeded,
  type AdminRight,
  type Rights,
  type Session,
  type SignedOutWhy,
  type SignInAnswer,
} from './people';

export type Screen = 'home' | 'records' | 'reports' | 'connect' | 'standby' | 'master' | 'settings';

export interface ConfirmRequest {
  title: string;
  message: string;
  ok: string;
  cancel?: string;
  danger?: boolean;
  resolve: (ok: boolean) => void;
}

/** Titles of linked records, fetched in one query per doctype and kept until they change. */
export class TitleCache {
  private cache = new Map<string, Map<string, string>>();
  /** Bumped whenever titles may have changed, so views can re-resolve. */
  version = $state(0);

  constructor(
    private api: () => Api,
    private doctype: (name: string) => Doctype | undefined,
  ) {}

  titleField(doctype: string): string {
    return this.doctype(doctype)?.title_field ?? 'name';
  }

  known(doctype: string, name: string): string | undefined {
    return this.cache.get(doctype)?.get(name);
  }

  remember(doctype: string, name: string, title: string) {
    let m = this.cache.get(doctype);
    if (!m) this.cache.set(doctype, (m = new Map()));
    m.set(name, title);
  }

  /** Titles of these records (a name stands for itself when it has no title). */
  async resolve(doctype: string, names: Iterable<string>): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const missing: string[] = [];
    for (const n of new Set(names)) {
      if (!n) continue;
      const t = this.known(doctype, n);
      if (t !== undefined) out.set(n, t);
      else missing.push(n);
    }
    if (missing.length > 0) {
      const tf = this.titleField(doctype);
      const rows = await this.api().query({
        doctype,
        filters: [['name', 'in', missing]],
        fields: tf === 'name' ? ['name'] : ['name', tf],
        limit: missing.length,
      });
      for (const r of rows) {
        const t = r[tf] == null || r[tf] === '' ? r.name : String(r[tf]);
        this.remember(doctype, r.name, t);
        out.set(r.name, t);
      }
    }
    return out;
  }

  invalidate(doctype: string, name?: string) {
    const m = this.cache.get(doctype);
    if (!m) return;
    if (name === undefined) m.clear();
    else m.delete(name);
    this.version++;
  }

  clear() {
    this.cache.clear();
    this.version++;
  }
}

class AppState {
  api!: Api;
  status = $state<Status | null>(null);
  statusError = $state<string | null>(null);
  screen = $state<Screen>('home');
  doctypes = $state<Doctype[]>([]);
  doctypesError = $state<string | null>(null);
  doctypesLoading = $state(false);
  schema: Schema = $derived(schemaOf(this.doctypes));
  /** A pairing URL the app was opened with, for the connect screen. */
  openUrl = $state<string | null>(null);
  /** A browser opened from the master's phone QR code: its code and the
   * fingerprint it names, for the pairing screen. */
  invite = $state<PhoneInvite | null>(null);
  /** The doctype shown in Records, kept across screens. */
  doctype = $state<string | null>(null);
  confirmRequest = $state<ConfirmRequest | null>(null);
  /** In-page dialogs open: keyboard shortcuts of the page wait. */
  modals = $state(0);
  /** Bumped when everything shown must reload (lagged events, reconnects). */
  epoch = $state(0);
  titles = new TitleCache(
    () => this.api,
    (n) => this.schema.get(n),
  );
  /** Who works in this window (issue 14). */
  session = $state<Session>({ state: 'unknown' });
  /** The last person signed in here (filled in on the sign-in screen after a lock). */
  lastUser = $state('');
  /** The newest `openSession` (a sign-in made right after waits for it,
   * so that its "sign in first" answer cannot end the new sign-in). */
  private opening: Promise<void> = Promise.resolve();
  idle = new IdleLock(() => void this.signOut('locked'));

  /** What the person may do with `doctype`'s records (all, in an office without users). */
  rights(doctype: string): Rights {
    return rightsOf(this.session, doctype);
  }

  /** Whether the person holds an administration right (all, in an office without users). */
  may(right: AdminRight): boolean {
    return mayAdmin(this.session, right);
  }

  /** Whether the sign-in screen stands in for the office's screens. */
  get signInShown(): boolean {
    return this.dbReady && this.session.state === 'signed_out';
  }

  /** Signs in on this window (through the master); throws its refusal (in words). */
  async signIn(user: string, password: string): Promise<void> {
    const who = await this.api.signIn(user, password);
    this.signedIn(who);
  }

  /** "Make this PC the master" with the office's first manager: starts the
   * master, then signs the window in as that manager (who just typed the
   * password twice), once the window has asked the new office who works. */
  async startMaster(office: string, manager?: FirstManager): Promise<void> {
    this.setStatus(await this.api.masterEnable(office, undefined, manager));
    if (!manager) return;
    await this.opening;
    try {
      await this.signIn(manager.name, manager.password);
    } catch {
      // The master runs: the sign-in screen asks, and shows its refusal.
    }
  }

  private signedIn(who: SignInAnswer) {
    this.session = { state: 'signed_in', who };
    this.lastUser = who.user;
    this.idle.set(who.idle_lock_minutes);
    this.titles.clear();
    void this.loadDoctypes();
    this.epoch++;
  }

  /** Sign out, "Switch user" and the idle lock: back to the sign-in screen. */
  async signOut(why: SignedOutWhy): Promise<void> {
    const user = this.session.state === 'signed_in' ? this.session.who.user : this.lastUser;
    this.idle.stop();
    this.session = { state: 'signed_out', why, lastUser: user };
    this.titles.clear();
    try {
      await this.api.signOut();
    } catch {
      // The master forgets the sign-in with the channel anyway.
    }
  }

  /** Asks the master again who is signed in here: a role or idle lock
   * changed meanwhile shows at once (the master applies a role change at
   * once anyway); a sign-in ended shows the sign-in screen. */
  private async checkSeat() {
    if (this.session.state !== 'signed_in' || !this.dbReady) return;
    const before = this.session.who;
    let now: SignInAnswer;
    try {
      now = await this.api.resume(before.token);
    } catch (e) {
      const why = signInNeeded(e);
      if (why && this.session.state === 'signed_in' && this.session.who === before) {
        this.signInLost(ApiError.from(e));
      }
      return;
    }
    // Someone else may have signed in here meanwhile.
    if (this.session.state !== 'signed_in' || this.session.who !== before) return;
    const changed = seatChanges(before, now);
    if (!changed.rights && !changed.idle) return;
    this.session = { state: 'signed_in', who: now };
    if (changed.idle) this.idle.set(now.idle_lock_minutes);
    if (changed.rights) {
      void this.loadDoctypes();
      this.epoch++;
    }
  }

  /** An answer said the sign-in is needed or ended. */
  private signInLost(e: ApiError) {
    const why = signInNeeded(e);
    if (!why || this.session.state === 'signed_out') return;
    const user = this.session.state === 'signed_in' ? this.session.who.user : this.lastUser;
    this.idle.stop();
    this.session = { state: 'signed_out', why, lastUser: user };
  }

  /** Once calls go through: a browser tab resumes its kept sign-in, then
   * the doctypes say whether anyone must sign in. */
  private async openSession() {
    try {
      const kept = await this.api.signInKept();
      if (kept) {
        this.signedIn(await this.api.resume(kept.token));
        return;
      }
    } catch (e) {
      // A resume refused (expired, disabled ...): the sign-in screen.
      const why = signInNeeded(e) ?? 'ended';
      this.session = { state: 'signed_out', why, lastUser: this.lastUser };
    }
    await this.loadDoctypes();
  }

  /** Whether DB calls can go through now. */
  get dbReady(): boolean {
    const s = this.status;
    if (!s) return false;
    if (s.role === 'master') return s.link.state !== 'failed' && s.link.state !== 'no_manager';
    return s.role === 'slave' && s.link.state === 'connected';
  }

  confirm(opts: Omit<ConfirmRequest, 'resolve'>): Promise<boolean> {
    this.confirmRequest?.resolve(false);
    return new Promise((resolve) => {
      this.confirmRequest = { ...opts, resolve };
    });
  }

  answerConfirm(ok: boolean) {
    const r = this.confirmRequest;
    this.confirmRequest = null;
    r?.resolve(ok);
  }

  /** Asks first, then forgets the paired master `name` (Connect and
   * Settings both offer it). `null`: the person said no. */
  async forgetMaster(name: string): Promise<{ ok: true } | { ok: false; error: string } | null> {
    const yes = await this.confirm({
      title: 'Forget this master?',
      message: `This PC stops working with ${name}. To connect again you will need a new pairing code from the master.`,
      ok: 'Forget master',
      danger: true,
    });
    if (!yes) return null;
    try {
      this.setStatus(await this.api.slaveForget());
      return { ok: true };
    } catch (err) {
      return { ok: false, error: ApiError.from(err).message };
    }
  }

  async refreshStatus() {
    try {
      this.setStatus(await this.api.status());
      this.statusError = null;
    } catch (e) {
      this.statusError = ApiError.from(e).message;
    }
  }

  setStatus(s: Status) {
    const wasReady = this.dbReady;
    const before = this.status;
    this.status = s;
    const changedDb =
      !before || before.role !== s.role || before.office_name !== s.office_name ||
      before.master?.fingerprint !== s.master?.fingerprint;
    if (changedDb && before) {
      // Another office (or none): whoever signed in there is not here.
      this.idle.stop();
      this.session = { state: 'unknown' };
    }
    if (this.dbReady && (!wasReady || changedDb)) {
      this.titles.clear();
      this.opening = this.openSession();
      this.epoch++;
    }
    if (!this.dbReady && changedDb) {
      this.doctypes = [];
    }
  }

  async loadDoctypes() {
    this.doctypesLoading = true;
    try {
      const list = await this.api.doctypes();
      this.doctypes = list;
      this.doctypesError = null;
      // Answered without a sign-in: an office without users.
      if (this.session.state === 'unknown') this.session = { state: 'open' };
      const shown = list.filter((d) => !d.child);
      if (!this.doctype || !shown.some((d) => d.name === this.doctype)) {
        this.doctype = shown[0]?.name ?? null;
      }
    } catch (e) {
      // Asked to sign in: the sign-in screen says so, not an error.
      this.doctypesError = signInNeeded(e) ? null : ApiError.from(e).message;
    } finally {
      this.doctypesLoading = false;
    }
  }

  /** A page opened from the phone QR code: keeps its invite for the
   * pairing screen and takes the code out of the address bar (and so out
   * of the browser's history). */
  takeInvite(loc: Location, history: History) {
    const invite = readPhoneInvite(loc.hash);
    if (!invite) return;
    this.invite = invite;
    this.screen = 'connect';
    history.replaceState(null, '', loc.pathname + loc.search);
  }

  goConnect(url: string) {
    this.openUrl = url;
    this.screen = 'connect';
  }

  /** Subscribes to the app's events; returns the cleanup. */
  start(): () => void {
    this.api.signInLost = (e) => this.signInLost(e);
    // Any key, click or touch in the window restarts the idle lock's wait.
    const touch = () => this.idle.touch();
    const inputs = ['keydown', 'pointerdown', 'wheel'] as const;
    for (const ev of inputs) window.addEventListener(ev, touch, { passive: true, capture: true });
    const offs = [
      subscription(this.api.onStatus((s) => this.setStatus(s))),
      subscription(
        this.api.onOpenUrl((u) => {
          // Taken, so that it is not offered again (the shell re-sends a
          // URL still waiting after its event queue overflowed).
          void this.api.takeOpenUrl().catch(() => null);
          this.goConnect(u);
        }),
      ),
      subscription(this.api.onDbEvent((e: DbEvent) => this.onDbEvent(e))),
    ];
    void this.refreshStatus().then(async () => {
      try {
        const url = await this.api.takeOpenUrl();
        if (url) this.goConnect(url);
      } catch {
        // no URL to take
      }
    });
    // Status events carry every change; this only catches a missed one.
    const timer = setInterval(() => void this.refreshStatus(), 15000);
    const seat = setInterval(() => void this.checkSeat(), SEAT_CHECK_MS);
    return () => {
      clearInterval(timer);
      clearInterval(seat);
      for (const ev of inputs) window.removeEventListener(ev, touch, { capture: true });
      this.idle.stop();
      this.api.signInLost = null;
      for (const off of offs) off();
    };
  }

  private onDbEvent(e: DbEvent) {
    if (e.ev === 'lagged') {
      this.titles.clear();
      this.epoch++;
    } else {
      this.titles.invalidate(e.doctype, e.name);
    }
  }
}

export const app = new AppState();

/** Counts an in-page dialog as open while it is mounted (use in an $effect). */
/**
 * Runs `load` now, every `everyMs`, and on each status event; returns the
 * cleanup, for a panel's `$effect` (`$effect(() => keepFresh(load, 5000))`).
 */
export function keepFresh(load: () => void, everyMs: number): () => void {
  load();
  const timer = setInterval(load, everyMs);
  const off = subscription(app.api.onStatus(() => load()));
  return () => {
    clearInterval(timer);
    off();
  };
}

export function holdModal(): () => void {
  untrack(() => app.modals++);
  return () => {
    untrack(() => app.modals--);
  };
}

/** Whether a key event is typing into a field (so page shortcuts stay out). */
export function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  const tag = t.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || t.isContentEditable;
}
