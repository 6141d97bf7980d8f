import { describe, expect, it } from 'vitest';
import type { BackupView } from './api';
import { fieldsOf, formToSend, healthLine, scheduleWords, spanWords, whenWords } from './backups';

const schedule = { folder: '/media/usb/outpost', every_minutes: 60, keep: 24, dailies: 7 };
const now = Date.parse('2026-12-02T21:00:00.000Z');
const good = {
  path: '/media/usb/outpost/depot-20261202-205500.sqlite',
  at: '2026-12-02T20:55:00.000Z',
  bytes: 1_250_000,
  millis: 40,
  records: 12,
  last_change: 30,
  with_secrets: false,
};

function view(v: Partial<BackupView>): BackupView {
  return { schedule, health: 'good', last: null, last_good: null, ...v };
}

describe('the backup form', () => {
  it('sends trimmed text and whole numbers', () => {
    const f = { ...fieldsOf(schedule), folder: '  /mnt/nas/outpost ', every: ' 30 ' };
    expect(formToSend(f)).toEqual({ form: { folder: '/mnt/nas/outpost', every_minutes: 30, keep: 24, dailies: 7 } });
  });

  it('names each field that is not a whole number', () => {
    const r = formToSend({ folder: '/mnt/nas', every: '1.5', keep: '', dailies: 'seven' });
    expect(Object.keys('errors' in r ? r.errors : {})).toEqual(['every', 'keep', 'dailies']);
    expect('errors' in r && r.errors.every).toMatch(/whole number/);
  });

  it('a blank folder turns backups off whatever the numbers say', () => {
    expect(formToSend({ folder: ' ', every: 'x', keep: '', dailies: '' })).toEqual({
      form: { folder: '', every_minutes: 0, keep: 0, dailies: 0 },
    });
  });
});

describe('how the backups stand', () => {
  it('is red with the reason when the last backup failed', () => {
    const v = view({
      health: 'failed',
      last: { at: '2026-12-02T20:59:00.000Z', path: '/media/usb/x.sqlite', error: 'No space left on device' },
      last_good: good,
    });
    expect(healthLine(v, now)).toEqual({ tone: 'bad', text: 'The last backup failed: No space left on device' });
  });

  it('is red saying for how long when the last good one is too old', () => {
    const old = { ...good, at: '2026-12-02T18:00:00.000Z' };
    const v = view({ health: 'overdue', last: { at: old.at, path: old.path, error: null }, last_good: old });
    expect(healthLine(v, now)).toEqual({
      tone: 'bad',
      text: 'No backup for 3 hours; backups are set every 60 minutes.',
    });
  });

  it('waits quietly for a new schedule’s first backup', () => {
    expect(healthLine(view({ health: 'overdue' }), now).tone).toBe('muted');
  });

  it('is green when recent, muted when none is scheduled', () => {
    const v = view({ last: { at: good.at, path: good.path, error: null }, last_good: good });
    expect(healthLine(v, now)).toEqual({ tone: 'ok', text: 'Backed up 5 min ago.' });
    expect(healthLine(view({ schedule: null, health: 'never' }), now).tone).toBe('muted');
  });

  it('says spans and schedules as a person does', () => {
    expect(spanWords(40 * 60000)).toBe('40 minutes');
    expect(spanWords(60000)).toBe('1 minute');
    expect(spanWords(3 * 3600000 + 20 * 60000)).toBe('3 hours');
    expect(spanWords(3 * 86400000)).toBe('3 days');
    expect(scheduleWords(schedule)).toBe('Every 60 minutes, keeping the newest 24 and one a day for 7 days.');
    expect(scheduleWords({ ...schedule, every_minutes: 1, keep: 1, dailies: 0 })).toBe(
      'Every minute, keeping the newest backup.',
    );
    expect(whenWords(good.at, now)).toMatch(/^5 min ago \(\d{4}-\d\d-\d\d \d\d:\d\d\)$/);
  });
});
