// The master's scheduled backups, free of the DOM: Settings → Backups'
// fields as typed and as sent, and the Master screen's words for how the
// backups stand (the tone says whether the line is red).

import type { BackupSettings, BackupView } from './api';
import { formatAgo, formatDateTime, sentence } from './format';

/** The form's fields as typed (numbers are text until checked). */
export interface BackupFields {
  folder: string;
  every: string;
  keep: string;
  dailies: string;
}

/** The fields of a saved (or blank) schedule. */
export function fieldsOf(s: BackupSettings): BackupFields {
  return { folder: s.folder, every: String(s.every_minutes), keep: String(s.keep), dailies: String(s.dailies) };
}

/** What a number field must hold, in words, by field name. */
const NUMBER_WORDS: Record<'every' | 'keep' | 'dailies', string> = {
  every: 'Write the minutes between backups as a whole number, e.g. 60.',
  keep: 'Write how many backups to keep as a whole number, e.g. 24.',
  dailies: 'Write the number of days as a whole number, e.g. 7 (0: none).',
};

/** The field names the app refuses a value under, for the typed fields. */
export const FIELD_OF: Record<string, keyof BackupFields> = {
  folder: 'folder',
  every_minutes: 'every',
  keep: 'keep',
  dailies: 'dailies',
};

/**
 * The form to send, or what is wrong with the fields as typed (whole
 * numbers only; the app checks the ranges and the folder). A blank folder
 * sends "off" whatever the numbers say.
 */
export function formToSend(f: BackupFields): { form: BackupSettings } | { errors: Partial<Record<keyof BackupFields, string>> } {
  const folder = f.folder.trim();
  const errors: Partial<Record<keyof BackupFields, string>> = {};
  const whole = (k: 'every' | 'keep' | 'dailies'): number => {
    const t = f[k].trim();
    if (!/^\d{1,9}$/.test(t)) {
      if (folder !== '') errors[k] = NUMBER_WORDS[k];
      return 0;
    }
    return Number(t);
  };
  const form: BackupSettings = { folder, every_minutes: whole('every'), keep: whole('keep'), dailies: whole('dailies') };
  return Object.keys(errors).length > 0 ? { errors } : { form };
}

/** "every minute", "every 60 minutes". */
export function everyWords(minutes: number): string {
  return minutes === 1 ? 'every minute' : `every ${minutes} minutes`;
}

/** A stretch of time as a person says it: "40 minutes", "3 hours", "2 days". */
export function spanWords(ms: number): string {
  const min = Math.max(0, Math.floor(ms / 60000));
  if (min < 90) return min === 1 ? '1 minute' : `${min} minutes`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} hours`;
  return `${Math.floor(h / 24)} days`;
}

/** "3 min ago (2026-12-02 21:07)". */
export function whenWords(at: string, now: number): string {
  const ago = formatAgo(at, now);
  const abs = formatDateTime(at);
  return ago === abs ? abs : `${ago} (${abs})`;
}

/** The schedule in a sentence: "Every 60 minutes, keeping the newest 24 and one a day for 7 days." */
export function scheduleWords(s: BackupSettings): string {
  const every = everyWords(s.every_minutes);
  const keep = s.keep === 1 ? 'the newest backup' : `the newest ${s.keep}`;
  const daily = s.dailies === 0 ? '' : s.dailies === 1 ? ' and one for today' : ` and one a day for ${s.dailies} days`;
  return `${sentence(every)}, keeping ${keep}${daily}.`;
}

export type BackupTone = 'ok' | 'bad' | 'muted';

/** How the backups stand, in one line, and whether it is red (`bad`). */
export function healthLine(v: BackupView, now: number): { tone: BackupTone; text: string } {
  if (!v.schedule) {
    return { tone: 'muted', text: 'No scheduled backups: the master does not back up this office’s records by itself.' };
  }
  const every = everyWords(v.schedule.every_minutes);
  switch (v.health) {
    case 'failed':
      return { tone: 'bad', text: `The last backup failed: ${v.last?.error ?? 'no reason was recorded'}` };
    case 'overdue': {
      if (v.last_good) {
        const since = now - new Date(v.last_good.at).getTime();
        return { tone: 'bad', text: `No backup for ${spanWords(since)}; backups are set ${every}.` };
      }
      // Nothing tried yet: a new schedule's first backup is under way.
      if (!v.last) return { tone: 'muted', text: 'The first backup is being taken…' };
      return { tone: 'bad', text: `No backup is left in the folder; backups are set ${every}.` };
    }
    case 'good':
      return { tone: 'ok', text: v.last_good ? `Backed up ${formatAgo(v.last_good.at, now)}.` : 'Backed up.' };
    case 'never':
      return { tone: 'muted', text: 'No backup has been taken yet.' };
  }
}
