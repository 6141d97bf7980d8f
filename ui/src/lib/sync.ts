// Head-office sync, free of the DOM: how the link reads, a conflict in
// words and which of its fields differ, byte counts, the status bar line.

import type {
  Doctype,
  Field,
  LinkState,
  RecordSync,
  RecordSyncState,
  SyncConflict,
  SyncView,
} from './api';
import { compareVersions, label, type Schema, type Values } from './form';
import { formatValue } from './format';

/** Dot colours, as the status bar names them. */
export type Tone = 'ok' | 'bad' | 'idle';

/** Each link state in words (the hint, when there is one, follows in brackets). */
const LINK_WORDS: Record<LinkState, string> = {
  not_configured: 'no upstream configured',
  stopped: 'stopped',
  starting: 'starting',
  up: 'up',
  down: 'down',
  refused: 'refused',
  error: 'error',
};

/** The link in words: "up", "refused (check user and password)". */
export function linkText(link: LinkState, hint?: string | null): string {
  return hint ? `${LINK_WORDS[link]} (${hint})` : LINK_WORDS[link];
}

/** up is good; down, refused and error need someone; the rest is neutral. */
export function linkTone(link: LinkState): Tone {
  switch (link) {
    case 'up':
      return 'ok';
    case 'down':
    case 'refused':
    case 'error':
      return 'bad';
    default:
      return 'idle';
  }
}

/**
 * The link as the Master screen shows it. A file saved a moment ago has no
 * sync state yet, so the master says "not configured" next to the file it
 * is starting with; that reads as "starting".
 */
export function shownLink(s: SyncView): LinkState {
  if (!s.configured && s.upstream_file && !s.upstream_error) return 'starting';
  return s.link;
}

/** The shown link in words, with the master's hint when it is about that state. */
export function shownLinkText(s: SyncView): string {
  const link = shownLink(s);
  return linkText(link, link === s.link ? s.hint : null);
}

/** The dot of the Master screen: a worker that could not start is bad whatever the link says. */
export function statusTone(s: SyncView): Tone {
  return s.upstream_error ? 'bad' : linkTone(shownLink(s));
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The status bar's words after "Head office:": "up · 3 pending · 1 conflict". */
export function syncSummary(s: SyncView): string {
  const parts = [linkText(s.link)];
  if (s.outbox_pending > 0) parts.push(`${s.outbox_pending} pending`);
  if (s.conflicts > 0) parts.push(plural(s.conflicts, 'conflict'));
  return parts.join(' · ');
}

/** 512 B, 3.4 KB, 12 MB (1 KB = 1024 bytes). */
export function formatBytes(n: number | null | undefined): string {
  const b = typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
  if (b < 1024) return `${Math.round(b)} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = b / 1024;
  let i = 0;
  // 1023.6 KB would print as "1024 KB": call it 1.0 MB.
  while (v >= 1023.95 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** What the "Sync now" button reports once the cycle is over. */
export function syncNowOutcome(s: SyncView): { kind: 'ok' | 'error'; text: string } {
  if (s.link !== 'up') {
    return { kind: 'error', text: `The sync did not complete: ${s.last_error ?? linkText(s.link, s.hint)}` };
  }
  const left: string[] = [];
  if (s.outbox_pending > 0) left.push(`${s.outbox_pending} still pending`);
  if (s.conflicts > 0) left.push(`${plural(s.conflicts, 'conflict')} to settle`);
  if (s.parked > 0) left.push(`${s.parked} refused by the head office`);
  return { kind: 'ok', text: left.length ? `Synced with the head office; ${left.join(', ')}.` : 'Synced with the head office.' };
}

// ---------------------------------------------------------------------------
// Conflicts
// ---------------------------------------------------------------------------

const KIND_WORDS: Record<string, string> = {
  'modify/modify': 'changed on both sides',
  'create/create': 'made on both sides',
  'modify/delete': 'changed here, deleted at the head office',
  'delete/modify': 'deleted here, changed at the head office',
};

/** A conflict's kind ("local/remote" operations) in words. */
export function kindWords(kind: string, reason?: string | null): string {
  if (kind.endsWith('/refused')) {
    return reason ? `could not be stored here: ${reason}` : 'could not be stored here';
  }
  return KIND_WORDS[kind] ?? kind;
}

function text(v: unknown): string | null {
  return v === null || v === undefined || v === '' ? null : String(v);
}

/**
 * What a conflict is about: the record's title field here, else the head
 * office's, else its name (`titleField` is the doctype's, or "name").
 */
export function conflictTitle(c: SyncConflict, titleField: string): string {
  return (
    text(c.local?.[titleField]) ??
    text(c.remote?.values?.[titleField]) ??
    c.name ??
    (c.remote_id !== null && c.remote_id !== undefined ? `head office record ${c.remote_id}` : `conflict ${c.id}`)
  );
}

/** Why the office has no version to show ("" when it has one). */
export function localMissing(c: SyncConflict): string {
  if (c.local) return '';
  return c.kind.startsWith('delete/') ? 'deleted here' : 'not here';
}

/** One field that differs between the office's version and the head office's. */
export interface FieldDiff {
  key: string;
  label: string;
  /** The doctype's field, when the schema knows it (for formatting). */
  field: Field | null;
  local: unknown;
  remote: unknown;
}

function blank(v: unknown): boolean {
  return v === null || v === undefined || v === '';
}

/**
 * The fields the head office sent that differ from the office's record, in
 * the doctype's order. Known fields compare as the conflict dialog compares
 * two versions (`compareVersions`: "12.50" is 12.5, an empty text is no
 * value); any other key compares as JSON. A record deleted here compares as
 * empty, so every value the head office has shows.
 */
export function conflictDiffs(c: SyncConflict, dt: Doctype | undefined, schema: Schema): FieldDiff[] {
  const remote: Values = c.remote?.values ?? {};
  const local: Values = c.local ?? {};
  const out: FieldDiff[] = [];
  const known = new Set<string>();
  if (dt) {
    for (const d of compareVersions(dt, schema, local, local, remote)) {
      known.add(d.field.name);
      if (!(d.field.name in remote) || !d.differs) continue;
      out.push({ key: d.field.name, label: label(d.field), field: d.field, local: local[d.field.name], remote: remote[d.field.name] });
    }
  }
  for (const [key, r] of Object.entries(remote)) {
    if (known.has(key)) continue;
    const l = local[key];
    if (blank(l) && blank(r)) continue;
    if (JSON.stringify(l) === JSON.stringify(r)) continue;
    out.push({ key, label: label({ name: key, type: 'data' }), field: null, local: l, remote: r });
  }
  return out;
}

/**
 * A value of a compared field as text ("" when empty). A table's rows are
 * listed by their own values (links left out: they name records by id), so
 * a line changed on one side shows: "2 rows: 1. 7 · 4.00; 2. 2 · 4.00".
 */
export function diffText(d: FieldDiff, v: unknown, schema?: Schema): string {
  if (d.field?.type === 'table') {
    if (!Array.isArray(v)) return '';
    const child = d.field.table ? schema?.get(d.field.table) : undefined;
    const count = plural(v.length, 'row');
    if (!child || v.length === 0) return count;
    const shown = child.fields.filter((f) => f.type !== 'link' && f.type !== 'table' && !f.compute);
    const rows = v.map((row: Values, i: number) => `${i + 1}. ${shown.map((f) => formatValue(f, row?.[f.name])).join(' · ')}`);
    return `${count}: ${rows.join('; ')}`;
  }
  if (d.field) return formatValue(d.field, v);
  if (blank(v)) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** A record's standing with the head office, in a word for lists and forms. */
const RECORD_WORDS: Record<RecordSyncState, string> = {
  waiting: 'waiting',
  sent: 'sent',
  parked: 'refused',
  conflict: 'conflict',
  not_synced: '',
};

export function syncWord(state: RecordSyncState): string {
  return RECORD_WORDS[state];
}

/** The longer words (a tooltip, the form's line): why, and what to do. */
export function syncTitle(r: RecordSync): string {
  switch (r.state) {
    case 'waiting':
      return 'Waiting to go to the head office (with the next sync, or once what it links to is there).';
    case 'sent':
      return `The head office has it${r.remote_id ? ` (its id there: ${r.remote_id})` : ''}.`;
    case 'parked':
      return `The head office refused it: ${r.message ?? 'no reason given'}. Change it here, or fix the record it names, and it is tried again.`;
    case 'conflict':
      return 'Changed here and at the head office: choose a version on the Master screen.';
    case 'not_synced':
      return 'Not sent to a head office.';
  }
}
