// The standby master (issue 13), free of the DOM: the Master screen's words
// for where the office's standby stands, and the banner of a master a
// standby was promoted in place of. The tone says how the line is coloured.

import type { StandbyView } from './api';

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

/** The red banner of a master a standby was promoted in place of; `null` when it was not. */
export function fencedWords(epoch: number | null): string | null {
  if (epoch === null) return null;
  return `A standby was promoted in this PC's place (epoch ${epoch}): this PC takes no writes. Run it as the new master's standby.`;
}
