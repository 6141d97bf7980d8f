// The standby master (issue 13), free of the DOM: the Master screen's words
// for where the office's standby stands, the banner of a master a standby
// was promoted in place of, and, on the standby PC itself, the status bar's
// words for its copy. The tone says how the line is coloured.

import type { StandbyHere, StandbyView, WriteMode } from './api';

export type StandbyTone = 'none' | 'ok' | 'behind' | 'away';

export interface StandbyLine {
  tone: StandbyTone;
  text: string;
}

/** "0 changes", "1 change", "12 changes". */
export function changesWords(n: number): string {
  return n === 1 ? '1 change' : `${n} changes`;
}

/** Seconds as the line shows them: "0.4 s", "12 s", "3 min". */
export function secondsWords(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '0 s';
  if (s < 10) return `${Math.round(s * 10) / 10} s`;
  if (s < 120) return `${Math.round(s)} s`;
  return `${Math.round(s / 60)} min`;
}

/**
 * "Standby: Till 2 — following, 0 changes behind"; "… — following, 3
 * changes, 1.2 s behind"; "… — away, 3 changes behind" when it has not
 * called lately; or no standby at all.
 */
export function standbyLine(v: StandbyView): StandbyLine {
  const s = v.standby;
  if (!s) {
    return { tone: 'none', text: 'No standby: make a paired PC the standby and it keeps a full copy of the office database.' };
  }
  const who = `Standby: ${s.name || s.short}`;
  if (!s.connected) {
    const behind = s.lag_changes > 0 ? `, ${changesWords(s.lag_changes)} behind` : '';
    return { tone: 'away', text: `${who} — away${behind}. Start Outpost as the standby on that PC.` };
  }
  if (s.lag_changes === 0) return { tone: 'ok', text: `${who} — following, 0 changes behind` };
  return { tone: 'behind', text: `${who} — following, ${changesWords(s.lag_changes)}, ${secondsWords(s.lag_seconds)} behind` };
}

/**
 * How the master answers writes now, in the words of the standby card:
 * "ok" when it does as chosen, "away" (red) when the office is worse off
 * than it chose to be (writes on one PC only, or refused).
 */
export function writesLine(mode: WriteMode): StandbyLine {
  switch (mode) {
    case 'at_commit':
      return { tone: 'none', text: 'Writes are answered as soon as this PC has them; the standby follows a little behind.' };
    case 'on_both':
      return { tone: 'ok', text: 'Writes are answered once the standby has them too: a lost master loses nothing answered.' };
    case 'alone_no_standby':
      return { tone: 'away', text: 'Writes should be kept on two PCs, but the office has no standby: they are on this PC only.' };
    case 'alone_standby_away':
      return { tone: 'away', text: 'The standby is away: writes are answered on this PC alone until it is back.' };
    case 'refused_standby_away':
      return { tone: 'away', text: 'The standby is away: writes are refused until it is back (or choose to go on without it).' };
  }
}

/** The red banner of a master a standby was promoted in place of; `null` when it was not. */
export function fencedWords(epoch: number | null): string | null {
  if (epoch === null) return null;
  return `A standby was promoted in this PC's place (epoch ${epoch}): this PC takes no writes. Run it as the new master's standby.`;
}

/** What "Join the new master" on a replaced master does, for its confirmation. */
export const JOIN_NEW_MASTER =
  'This PC stops being a master. Its database stays in its folder.\n\n' +
  'Then pair it with the new master (Connect: the office\'s name, or the pairing URL shown on the new master) ' +
  'and make it the standby there: it follows from a fresh copy of the office. ' +
  'Writes that only this PC took are listed in a file in its folder (stray-writes-…), never merged into the office.';

export type StandbyHereTone = 'ok' | 'busy' | 'bad';

/**
 * The standby PC's own status: "Standby: copying 40%", "Standby:
 * following, 0 changes behind", "Standby: refused — <the master's words>",
 * "Standby: connecting", "Standby: stopped — <why>".
 */
export function standbyHereLine(h: StandbyHere): { tone: StandbyHereTone; text: string } {
  switch (h.state) {
    case 'connecting':
      return { tone: 'busy', text: 'Standby: connecting' };
    case 'copying':
      return { tone: 'busy', text: `Standby: copying ${h.percent}%` };
    case 'following':
      return { tone: h.behind === 0 ? 'ok' : 'busy', text: `Standby: following, ${changesWords(h.behind)} behind` };
    case 'refused':
      return { tone: 'bad', text: `Standby: refused — ${h.message}` };
    case 'stopped':
      return { tone: 'bad', text: `Standby: stopped — ${h.message}` };
  }
}

/** What promoting does, for the confirmation the person answers. */
export const PROMOTE_WARNING =
  'Do this only when the office\'s master PC is really gone (broken, stolen, switched off for good). ' +
  'A master that is still running somewhere on the LAN would take writes that this PC never sees.\n\n' +
  'This PC stops following, raises the office\'s epoch (an old master that comes back then takes no more writes) ' +
  'and becomes the master on its copy, under the office\'s name. The office\'s PCs find it and carry on by themselves, ' +
  'without pairing again.';
