// How values read on screen.

import type { Field } from './api';
import { precisionOf } from './form';

/** A number with its field's decimals (currency: 2), no grouping. */
export function formatNumber(f: Field, v: unknown): string {
  if (v === null || v === undefined || v === '') return '';
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) return String(v);
  const p = precisionOf(f);
  if (p !== undefined) return n.toFixed(p);
  if (f.type === 'int') return String(Math.trunc(n));
  return String(n);
}

/** `2026-11-21 09:16` in local time from an RFC 3339 UTC timestamp. */
export function formatDateTime(v: unknown): string {
  if (typeof v !== 'string' || v === '') return '';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return v;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(
    d.getMinutes(),
  )}`;
}

/** "3 min ago", "yesterday 14:02" ... for last-seen columns. */
export function formatAgo(v: unknown, now: number = Date.now()): string {
  if (typeof v !== 'string' || v === '') return '';
  const t = new Date(v).getTime();
  if (Number.isNaN(t)) return v;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return formatDateTime(v);
}

/** A stored value as a list cell or read-only text shows it (links: see titles). */
export function formatValue(f: Field, v: unknown): string {
  if (v === null || v === undefined) return '';
  switch (f.type) {
    case 'int':
    case 'float':
    case 'currency':
      return formatNumber(f, v);
    case 'check':
      return v === true || v === 1 ? '✓' : '';
    case 'datetime':
      return formatDateTime(v);
    default:
      return String(v);
  }
}

export function isNumeric(f: Field): boolean {
  return f.type === 'int' || f.type === 'float' || f.type === 'currency';
}

/** A message as a sentence: the master writes "wrong pairing code; …". */
export function sentence(text: string | null | undefined): string {
  if (!text) return '';
  return text.charAt(0).toUpperCase() + text.slice(1);
}
