// Reports (issue 15): the `report` op's answer made ready for a table, a
// chart and a CSV file. Everything is counted on the master; this file
// only shapes the groups it sends.

import type { Api } from './api';
import type { BuiltinReport, ReportResult, ReportSpec } from './generated';

export type { BuiltinReport, ChartKind, ReportResult, ReportSpec } from './generated';

export function runReport(api: Api, spec: ReportSpec): Promise<ReportResult> {
  return api.call('report', spec);
}

export function builtinReports(api: Api): Promise<BuiltinReport[]> {
  return api.call('report.builtins');
}

/** This PC's date (its own time zone), `YYYY-MM-DD`: where "today" ends. */
export function localToday(now: Date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}`;
}

/** `YYYY-MM-DD` moved by `days` (calendar arithmetic in UTC, no time zone). */
export function addDays(day: string, days: number): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** A cell as text: empty for null, numbers as they came. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  return String(v);
}

/** CSV (RFC 4180) of a report: a header of labels, one line per group. */
export function toCsv(r: ReportResult): string {
  const field = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = [r.columns.map((c) => field(c.label)).join(',')];
  for (const row of r.rows) lines.push(row.map((v) => field(cellText(v))).join(','));
  return lines.join('\r\n') + '\r\n';
}

/**
 * A day-by-day answer with the days that had nothing put back as zeros,
 * from `last - days + 1` to `last`: a chart of the last 30 days shows 30
 * days, not only the days with sales.
 */
export function fillDays(r: ReportResult, last: string, days: number): ReportResult {
  const byDay = new Map(r.rows.map((row) => [String(row[0]), row]));
  const rows: ReportResult['rows'] = [];
  for (let i = days - 1; i >= 0; i--) {
    const day = addDays(last, -i);
    rows.push(byDay.get(day) ?? [day, ...r.columns.slice(1).map((c) => (c.kind === 'measure' ? 0 : null))]);
  }
  return { ...r, rows };
}

/** One measure of a report as a chart's labels and values. */
export interface Series {
  label: string;
  labels: string[];
  values: number[];
}

export function seriesOf(r: ReportResult, measureKey?: string): Series | null {
  const mi = measureKey
    ? r.columns.findIndex((c) => c.key === measureKey)
    : // The last measure: a sum when there is one, rather than the count.
      r.columns.map((c) => c.kind).lastIndexOf('measure');
  if (mi < 0) return null;
  const gi = r.columns.findIndex((c) => c.kind === 'group');
  const ti = r.columns.findIndex((c) => c.kind === 'title');
  return {
    label: r.columns[mi].label,
    labels: r.rows.map((row) => cellText(ti >= 0 && row[ti] != null ? row[ti] : gi >= 0 ? row[gi] : 'All')),
    values: r.rows.map((row) => Number(row[mi]) || 0),
  };
}

/** Round steps for an axis from 0 to at least `max`: 1, 2 or 5 times a power of ten. */
export function ticks(max: number, count = 4): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const out: number[] = [];
  for (let v = 0; v < max + step; v += step) {
    out.push(Number(v.toPrecision(12)));
    if (v >= max) break;
  }
  return out;
}

/** Saves `text` as a file the browser (or the window) downloads. */
export function download(filename: string, text: string, type = 'text/csv;charset=utf-8') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
