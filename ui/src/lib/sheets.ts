// Spreadsheets in and out (issue 15; docs/sheets.md). The master reads
// and writes the files (the `import`, `export` and `export.chunk` ops);
// this side carries their bytes and lets a person map columns to fields.

import type { Api, Doctype } from './api';
import type { ImportMode, ImportReport, SheetFormat, SortArg } from './generated';
import { label } from './form';

export type { ImportMode, ImportReport, SheetFormat } from './generated';

/** Bytes asked per `export.chunk` (the master's most). */
const CHUNK = 1024 * 1024;

/** The format a file name says, or null. */
export function formatOf(fileName: string): SheetFormat | null {
  const ext = fileName.toLowerCase().split('.').pop();
  return ext === 'csv' ? 'csv' : ext === 'xlsx' ? 'xlsx' : null;
}

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export interface ExportQuery {
  doctype: string;
  query?: string;
  filters?: unknown;
  sort?: SortArg;
  /** A table field: its lines, one row per line, instead of the records. */
  table?: string;
}

export interface Exported {
  fileName: string;
  contentType: string;
  rows: number;
  bytes: Uint8Array;
}

/** Has the master write every row of the query (all pages) into a file,
 * then fetches it in chunks. */
export async function exportList(api: Api, q: ExportQuery, format: SheetFormat): Promise<Exported> {
  const made: { id: string; rows: number; bytes: number; file_name: string; content_type: string } =
    await api.call('export', { ...q, format } as never);
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (;;) {
    const part: { data: string; done: boolean } = await api.call('export.chunk', {
      id: made.id,
      offset,
      len: CHUNK,
    });
    const bytes = fromBase64(part.data);
    parts.push(bytes);
    offset += bytes.length;
    if (part.done) break;
    if (bytes.length === 0) throw new Error(`the export ended early at byte ${offset}`);
  }
  const all = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return { fileName: made.file_name, contentType: made.content_type, rows: made.rows, bytes: all };
}

/** A field an import can fill, as the mapping offers it. */
export interface Target {
  key: string;
  label: string;
}

/** What a file may fill: `name` and the doctype's own fields, or (a table
 * import) `parent` and the line's fields. Mirrors the master's list. */
export function targets(dt: Doctype, table: string | null, doctypes: Doctype[]): Target[] {
  const own = (d: Doctype) =>
    d.fields
      .filter((f) => f.type !== 'table' && !f.compute && !f.read_only)
      .map((f) => ({ key: f.name, label: label(f) }));
  if (!table) return [{ key: 'name', label: 'name (record key)' }, ...own(dt)];
  const child = doctypes.find((d) => d.name === dt.fields.find((f) => f.name === table)?.table);
  return [{ key: 'parent', label: `${dt.name} (its key)` }, ...(child ? own(child) : [])];
}

/** The table fields of `dt` a file of lines can go into. */
export function tables(dt: Doctype): { name: string; label: string }[] {
  return dt.fields.filter((f) => f.type === 'table').map((f) => ({ name: f.name, label: label(f) }));
}

export interface ImportRequest {
  doctype: string;
  table: string | null;
  format: SheetFormat;
  file: string;
  columns: (string | null)[] | null;
  mode: ImportMode;
  dry_run: boolean;
}

/** One `import` call: a dry run answers the preview and the row errors. */
export async function runImport(api: Api, r: ImportRequest): Promise<ImportReport> {
  return api.call('import', {
    doctype: r.doctype,
    ...(r.table ? { table: r.table } : {}),
    format: r.format,
    file: r.file,
    ...(r.columns ? { columns: r.columns } : {}),
    mode: r.mode,
    dry_run: r.dry_run,
  });
}
