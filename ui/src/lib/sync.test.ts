import { describe, expect, it } from 'vitest';
import type { Doctype, SyncConflict, SyncView } from './api';
import { schemaOf } from './form';
import {
  conflictDiffs,
  conflictTitle,
  diffText,
  formatBytes,
  kindWords,
  linkText,
  linkTone,
  localMissing,
  shownLink,
  shownLinkText,
  statusTone,
  syncNowOutcome,
  syncSummary,
  syncTitle,
  syncWord,
} from './sync';
import doctypes from './testdata/doctypes.json';

// The starter doctypes exactly as `outpost db doctypes` prints them.
const schema = schemaOf(doctypes as Doctype[]);
const Party = schema.get('Party')!;
const Product = schema.get('Product')!;

function status(over: Partial<SyncView> = {}): SyncView {
  return {
    configured: true,
    running: true,
    upstream_file: '/etc/outpost/hq.toml',
    upstream_error: null,
    kind: 'tryton',
    url: 'http://hq.example:8000/',
    link: 'up',
    hint: null,
    last_success: '2026-11-21T09:16:05Z',
    last_attempt: '2026-11-21T09:16:05Z',
    last_error: null,
    next_attempt: null,
    outbox_pending: 0,
    parked: 0,
    conflicts: 0,
    open_conflicts: [],
    bytes: { sent_today: 0, received_today: 0, sent_total: 0, received_total: 0 },
    doctypes: [],
    ...over,
  };
}

function conflict(over: Partial<SyncConflict> = {}): SyncConflict {
  return {
    id: 4,
    doctype: 'Party',
    name: 'P1',
    remote_id: '31',
    kind: 'modify/modify',
    local: { name: 'P1', rev: 3, party_name: 'Ayşe Market', code: 'C-1', city: 'Kashgar', email: null },
    remote: { values: { party_name: 'Aysha Market', code: 'C-1' }, active: true, gone: false },
    reason: null,
    state: 'open',
    requested: null,
    at: '2026-11-21T09:16:05Z',
    resolved_at: null,
    ...over,
  };
}

describe('link state', () => {
  it('puts the link in words with its hint and colours it', () => {
    expect(linkText('refused', 'check user and password')).toBe('refused (check user and password)');
    expect(linkText('stopped', 'no master is syncing')).toBe('stopped (no master is syncing)');
    expect(linkText('not_configured')).toBe('no upstream configured');
    expect(linkText('up', null)).toBe('up');
    expect((['up', 'down', 'refused', 'error', 'starting'] as const).map(linkTone)).toEqual([
      'ok',
      'bad',
      'bad',
      'bad',
      'idle',
    ]);
    expect(linkTone('stopped')).toBe('idle');
    expect(linkTone('not_configured')).toBe('idle');
  });

  it('a file saved a moment ago reads as starting, not as no upstream', () => {
    const fresh = status({ configured: false, running: false, link: 'not_configured' });
    expect(shownLink(fresh)).toBe('starting');
    expect(shownLinkText(fresh)).toBe('starting');
    expect(statusTone(fresh)).toBe('idle');
    const none = status({ configured: false, upstream_file: null, link: 'not_configured' });
    expect(shownLink(none)).toBe('not_configured');
    expect(shownLinkText(none)).toBe('no upstream configured');
  });

  it('shows the master\'s hint beside the state it is about', () => {
    const refused = status({ link: 'refused', hint: 'check user and password' });
    expect(shownLinkText(refused)).toBe('refused (check user and password)');
    const stopped = status({ running: false, link: 'stopped', hint: 'no master is syncing' });
    expect(shownLinkText(stopped)).toBe('stopped (no master is syncing)');
    expect(statusTone(stopped)).toBe('idle');
  });

  it('a worker that could not start is bad whatever the link says', () => {
    const s = status({ configured: false, running: false, link: 'not_configured', upstream_error: 'line 2: missing key `url`' });
    expect(shownLink(s)).toBe('not_configured');
    expect(statusTone(s)).toBe('bad');
  });

  it('sums the link up for the status bar, counts only when there are some', () => {
    expect(syncSummary(status())).toBe('up');
    expect(syncSummary(status({ outbox_pending: 3 }))).toBe('up · 3 pending');
    expect(syncSummary(status({ link: 'down', outbox_pending: 3, conflicts: 1 }))).toBe('down · 3 pending · 1 conflict');
    expect(syncSummary(status({ link: 'refused', hint: 'check user and password', conflicts: 2 }))).toBe('refused · 2 conflicts');
    expect(syncSummary(status({ link: 'stopped', hint: 'no master is syncing' }))).toBe('stopped');
  });

  it('reports a sync-now cycle: done, what is left, or why it did not complete', () => {
    expect(syncNowOutcome(status())).toEqual({ kind: 'ok', text: 'Synced with the head office.' });
    expect(syncNowOutcome(status({ outbox_pending: 2, conflicts: 1, parked: 4 }))).toEqual({
      kind: 'ok',
      text: 'Synced with the head office; 2 still pending, 1 conflict to settle, 4 refused by the head office.',
    });
    expect(syncNowOutcome(status({ link: 'down', last_error: 'connection refused' }))).toEqual({
      kind: 'error',
      text: 'The sync did not complete: connection refused',
    });
    expect(syncNowOutcome(status({ link: 'error' })).text).toBe('The sync did not complete: error');
    expect(syncNowOutcome(status({ link: 'refused', hint: 'check user and password' })).text).toBe(
      'The sync did not complete: refused (check user and password)',
    );
  });
});

describe('byte counts', () => {
  it('shows bytes, then KB and MB of 1024', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KB');
    expect(formatBytes(3482)).toBe('3.4 KB');
    expect(formatBytes(250 * 1024)).toBe('250 KB');
    expect(formatBytes(5 * 1024 * 1024 + 300 * 1024)).toBe('5.3 MB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GB');
  });

  it('does not print 1024 KB for just under a megabyte', () => {
    expect(formatBytes(1024 * 1024 - 10)).toBe('1.0 MB');
  });

  it('treats a missing or broken count as nothing', () => {
    expect(formatBytes(undefined)).toBe('0 B');
    expect(formatBytes(null)).toBe('0 B');
    expect(formatBytes(Number.NaN)).toBe('0 B');
    expect(formatBytes(-5)).toBe('0 B');
  });
});

describe('conflicts in words', () => {
  it('says what happened on each side', () => {
    expect(kindWords('modify/modify')).toBe('changed on both sides');
    expect(kindWords('create/create')).toBe('made on both sides');
    expect(kindWords('modify/delete')).toBe('changed here, deleted at the head office');
    expect(kindWords('delete/modify')).toBe('deleted here, changed at the head office');
  });

  it('gives the reason a head-office record could not be stored here', () => {
    expect(kindWords('-/refused', 'code: C-1 is already used by P7')).toBe(
      'could not be stored here: code: C-1 is already used by P7',
    );
    expect(kindWords('-/refused', null)).toBe('could not be stored here');
  });

  it('shows a kind it does not know as it came', () => {
    expect(kindWords('move/modify')).toBe('move/modify');
  });

  it('says why the office has no version: deleted here, or never had it', () => {
    expect(localMissing(conflict())).toBe('');
    expect(localMissing(conflict({ kind: 'delete/modify', local: null }))).toBe('deleted here');
    expect(localMissing(conflict({ kind: '-/refused', name: null, local: null }))).toBe('not here');
  });

  it('names the record by its title field here, else at the head office, else by name', () => {
    expect(conflictTitle(conflict(), 'party_name')).toBe('Ayşe Market');
    expect(conflictTitle(conflict({ local: null, kind: 'delete/modify' }), 'party_name')).toBe('Aysha Market');
    expect(conflictTitle(conflict({ local: { name: 'P1', party_name: '' } }), 'party_name')).toBe('Aysha Market');
    expect(conflictTitle(conflict(), 'name')).toBe('P1');
    expect(
      conflictTitle(conflict({ local: null, name: null, remote: { values: {}, active: true, gone: false } }), 'party_name'),
    ).toBe('head office record 31');
  });
});

describe('the two versions of a conflict', () => {
  it('lists only the fields the head office sent that differ, in the doctype order', () => {
    const c = conflict({
      remote: { values: { code: 'C-1', party_name: 'Aysha Market', city: 'Urumqi' }, active: true, gone: false },
    });
    const d = conflictDiffs(c, Party, schema);
    expect(d.map((x) => [x.key, x.label, x.local, x.remote])).toEqual([
      ['party_name', 'Party Name', 'Ayşe Market', 'Aysha Market'],
      ['city', 'City', 'Kashgar', 'Urumqi'],
    ]);
    expect(d[0].field?.name).toBe('party_name');
  });

  it('leaves out the office fields the head office does not sync', () => {
    // email differs (null here, absent there) but the head office sent no email.
    const d = conflictDiffs(conflict(), Party, schema);
    expect(d.map((x) => x.key)).toEqual(['party_name']);
  });

  it('compares values as the conflict dialog does: 12.50 is 12.5, empty text is no value', () => {
    const c = conflict({
      doctype: 'Product',
      name: 'R1',
      local: { name: 'R1', product_name: 'Tea', code: 'T-1', list_price: 12.5, unit: '', active: 1 },
      remote: { values: { product_name: 'Tea', code: 'T-1', list_price: '12.50', unit: null, active: true }, active: true, gone: false },
    });
    expect(conflictDiffs(c, Product, schema)).toEqual([]);
    const off = { ...c, remote: { ...c.remote, values: { ...c.remote.values, active: false, list_price: 13 } } };
    expect(conflictDiffs(off, Product, schema).map((x) => [x.key, x.local, x.remote])).toEqual([
      ['list_price', 12.5, 13],
      ['active', 1, false],
    ]);
  });

  it('a record deleted here shows every value the head office has', () => {
    const c = conflict({ kind: 'delete/modify', local: null });
    expect(conflictDiffs(c, Party, schema).map((x) => [x.key, x.local, x.remote])).toEqual([
      ['party_name', undefined, 'Aysha Market'],
      ['code', undefined, 'C-1'],
    ]);
  });

  it('a record gone at the head office has nothing to compare', () => {
    const c = conflict({ kind: 'modify/delete', remote: { values: {}, active: false, gone: true } });
    expect(conflictDiffs(c, Party, schema)).toEqual([]);
  });

  it('compares keys the schema does not know, or any key without a schema, as they are', () => {
    const c = conflict({
      remote: { values: { party_name: 'Aysha Market', code: 'C-1', hq_segment: 'retail', tags: ['a'] }, active: true, gone: false },
    });
    const known = conflictDiffs(c, Party, schema);
    expect(known.map((x) => x.key)).toEqual(['party_name', 'hq_segment', 'tags']);
    expect(known[1]).toMatchObject({ label: 'Hq segment', field: null, local: undefined, remote: 'retail' });
    expect(diffText(known[2], known[2].remote)).toBe('["a"]');
    const bare = conflictDiffs(c, undefined, schema);
    expect(bare.map((x) => x.key)).toEqual(['party_name', 'hq_segment', 'tags']);
  });

  it('shows values with their field formatting', () => {
    const c = conflict({
      doctype: 'Product',
      local: { name: 'R1', list_price: 12.5, active: 1 },
      remote: { values: { list_price: 13, active: false }, active: true, gone: false },
    });
    const [price, active] = conflictDiffs(c, Product, schema);
    expect([diffText(price, price.local), diffText(price, price.remote)]).toEqual(['12.50', '13.00']);
    expect([diffText(active, active.local), diffText(active, active.remote)]).toEqual(['✓', '']);
  });
});

describe('a record with the head office', () => {
  it('is said in a word and, longer, with the reason and what to do', () => {
    expect(syncWord('parked')).toBe('refused');
    expect(syncWord('not_synced')).toBe('');
    const parked = { name: 'n', state: 'parked' as const, message: 'Tryton: no address', remote_id: null };
    expect(syncTitle(parked)).toContain('Tryton: no address');
    expect(syncTitle({ name: 'n', state: 'sent', message: null, remote_id: '12' })).toContain('12');
  });
});

describe('a conflict over a sale', () => {
  it('shows both versions of the lines, row by row', () => {
    const Sale = schema.get('Sale')!;
    const line = (quantity: number) => ({ name: `r${quantity}`, product: 'p-uuid', quantity, unit_price: 4, amount: quantity * 4 });
    const c = {
      id: 1,
      doctype: 'Sale',
      name: 's',
      remote_id: '8',
      kind: 'modify/modify',
      local: { name: 's', rev: 3, party: 'x', lines: [line(1), line(9)] },
      remote: { values: { party: 'x', lines: [line(7), line(2)] }, active: true, gone: false },
      reason: null,
      state: 'open',
      requested: null,
      at: '2026-12-02T10:00:00Z',
      resolved_at: null,
    } as unknown as SyncConflict;
    const diffs = conflictDiffs(c, Sale, schema);
    const lines = diffs.find((d) => d.key === 'lines')!;
    expect(diffText(lines, lines.local, schema)).toBe('2 rows: 1. 1 · 4.00; 2. 9 · 4.00');
    expect(diffText(lines, lines.remote, schema)).toBe('2 rows: 1. 7 · 4.00; 2. 2 · 4.00');
    expect(diffText(lines, lines.remote)).toBe('2 rows');
  });
});
