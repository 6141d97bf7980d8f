// Form logic, free of the DOM: what a form sends, what it computes, which
// field an error belongs to, and how two versions of a record differ.

import type { ApiError, DbRecord, Doctype, Field } from './api';

export type Schema = Map<string, Doctype>;
export type Values = Record<string, any>;
/** Field errors keyed like the master names them: `party`, `lines[2].product` (1-based rows). */
export type FieldErrors = Record<string, string>;

export function schemaOf(doctypes: Doctype[]): Schema {
  return new Map(doctypes.map((d) => [d.name, d]));
}

export function label(f: Field): string {
  return f.label ?? f.name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

export const NUMERIC: ReadonlySet<string> = new Set(['int', 'float', 'currency']);

// ---------------------------------------------------------------------------
// Computed fields
// ---------------------------------------------------------------------------

export type Compute =
  | { kind: 'product'; a: string; b: string }
  | { kind: 'sum'; table: string; field: string };

/** Reads `a * b` or `sum(table.field)`, as the store does. */
export function parseCompute(text: string | undefined): Compute | null {
  if (!text) return null;
  const t = text.trim();
  const sum = /^sum\((.*)\)$/.exec(t);
  if (sum) {
    const [table, field] = sum[1].split('.', 2).map((s) => s?.trim());
    if (!table || !field) return null;
    return { kind: 'sum', table, field };
  }
  const i = t.indexOf('*');
  if (i < 0) return null;
  const a = t.slice(0, i).trim();
  const b = t.slice(i + 1).trim();
  if (!a || !b) return null;
  return { kind: 'product', a, b };
}

export function precisionOf(f: Field): number | undefined {
  if (typeof f.precision === 'number') return f.precision;
  return f.type === 'currency' ? 2 : undefined;
}

/**
 * Rounds half away from zero on the number's shortest decimal form, as the
 * store does, so 1.005 rounds to 1.01 (binary rounding would give 1.00).
 */
export function roundTo(x: number, places: number): number {
  if (!Number.isFinite(x)) return x;
  const text = Math.abs(x).toString();
  if (/e/i.test(text)) return Number(x.toFixed(places));
  const [int, frac = ''] = text.split('.');
  if (frac.length <= places) return x;
  const digits = (int + frac.slice(0, places)).split('').map(Number);
  if (frac.charCodeAt(places) >= 53 /* '5' */) {
    let i = digits.length - 1;
    while (i >= 0) {
      if (digits[i] === 9) {
        digits[i] = 0;
        i--;
      } else {
        digits[i]++;
        break;
      }
    }
    if (i < 0) digits.unshift(1);
  }
  const all = digits.join('');
  const cut = all.length - places;
  const s = places > 0 ? `${all.slice(0, cut) || '0'}.${all.slice(cut)}` : all;
  const r = Number(s);
  return x < 0 ? -r : r;
}

/** A field's value as a number for arithmetic (empty is 0, like the store). */
function num(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? v : 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : 0;
  }
  return 0;
}

/** The value a numeric input holds once stored (rounded to its precision). */
function stored(f: Field | undefined, v: unknown): number {
  const n = num(v);
  if (!f) return n;
  if (f.type === 'int') return Math.trunc(n);
  const p = precisionOf(f);
  return p === undefined ? n : roundTo(n, p);
}

/** Fills a row's (or record's) product fields: `amount = quantity * unit_price`. */
export function computeRow(dt: Doctype, row: Values): Values {
  const out = { ...row };
  for (const f of dt.fields) {
    const c = parseCompute(f.compute);
    if (c?.kind !== 'product') continue;
    const fa = dt.fields.find((g) => g.name === c.a);
    const fb = dt.fields.find((g) => g.name === c.b);
    const x = stored(fa, row[c.a]) * stored(fb, row[c.b]);
    const p = precisionOf(f);
    out[f.name] = p === undefined ? x : roundTo(x, p);
  }
  return out;
}

/** The record with every computed field filled in, child rows first. */
export function computeRecord(dt: Doctype, schema: Schema, values: Values): Values {
  const out = computeRow(dt, values);
  for (const f of dt.fields) {
    if (f.type !== 'table' || !f.table) continue;
    const child = schema.get(f.table);
    const rows = Array.isArray(values[f.name]) ? values[f.name] : [];
    out[f.name] = child ? rows.map((r: Values) => computeRow(child, r)) : rows;
  }
  for (const f of dt.fields) {
    const c = parseCompute(f.compute);
    if (c?.kind !== 'sum') continue;
    const rows: Values[] = Array.isArray(out[c.table]) ? out[c.table] : [];
    const sum = rows.reduce((acc, r) => acc + num(r[c.field]), 0);
    const p = precisionOf(f);
    out[f.name] = p === undefined ? sum : roundTo(sum, p);
  }
  return out;
}

// ---------------------------------------------------------------------------
// What a form sends
// ---------------------------------------------------------------------------

/** Fields a person types into (not computed, not the head office's). */
export function inputFields(dt: Doctype): Field[] {
  return dt.fields.filter((f) => !f.compute && !f.read_only);
}

/**
 * A value as it is compared and sent: empty text is null, numbers are
 * numbers (text that is not a number stays text, for the master to refuse
 * with its message), a check box is true or false.
 */
export function normalize(f: Field, v: unknown): unknown {
  if (v === undefined || v === null) return f.type === 'check' ? false : null;
  switch (f.type) {
    case 'check':
      return v === true || v === 1 || v === '1' || v === 'true';
    case 'int':
    case 'float':
    case 'currency': {
      if (typeof v === 'number') return Number.isFinite(v) ? v : null;
      const t = String(v).trim();
      if (t === '') return null;
      const n = Number(t);
      return Number.isFinite(n) ? n : t;
    }
    case 'table':
      return v;
    default: {
      const t = String(v);
      return t.trim() === '' ? null : t;
    }
  }
}

/** A child row as sent: its name (kept across saves) and input fields. */
function rowOut(child: Doctype | undefined, row: Values): Values {
  const out: Values = {};
  if (typeof row.name === 'string' && row.name) out.name = row.name;
  if (!child) return out;
  for (const f of inputFields(child)) {
    const v = normalize(f, row[f.name]);
    // The table is replaced whole, so an unset value and an unticked box
    // are simply left out.
    if (v === null || v === false) continue;
    out[f.name] = v;
  }
  return out;
}

function rowsOut(schema: Schema, f: Field, rows: unknown): Values[] {
  const child = f.table ? schema.get(f.table) : undefined;
  return (Array.isArray(rows) ? rows : []).map((r) => rowOut(child, r ?? {}));
}

/** The record an insert sends: every filled input field and all table rows. */
export function buildInsert(dt: Doctype, schema: Schema, values: Values): Values {
  const out: Values = {};
  for (const f of inputFields(dt)) {
    if (f.type === 'table') {
      const rows = rowsOut(schema, f, values[f.name]);
      if (rows.length > 0) out[f.name] = rows;
      continue;
    }
    const v = normalize(f, values[f.name]);
    if (v === null || (f.type === 'check' && v === false)) continue;
    out[f.name] = v;
  }
  return out;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The fields an update sends: only those that differ from the version
 * loaded. A table is sent whole (rows keep their names) when any row
 * changed, was added, removed or moved.
 */
export function buildUpdate(dt: Doctype, schema: Schema, original: Values, values: Values): Values {
  const out: Values = {};
  for (const f of inputFields(dt)) {
    if (f.type === 'table') {
      const before = rowsOut(schema, f, original[f.name]);
      const after = rowsOut(schema, f, values[f.name]);
      if (!sameJson(before, after)) out[f.name] = after;
      continue;
    }
    const a = normalize(f, original[f.name]);
    const b = normalize(f, values[f.name]);
    if (a !== b) out[f.name] = b;
  }
  return out;
}

/** Whether the form holds something not saved. */
export function isDirty(dt: Doctype, schema: Schema, original: Values | null, values: Values): boolean {
  if (original) return Object.keys(buildUpdate(dt, schema, original, values)).length > 0;
  return Object.keys(buildInsert(dt, schema, values)).length > 0;
}

/** A new record's starting values. */
export function emptyValues(dt: Doctype): Values {
  const out: Values = {};
  for (const f of dt.fields) out[f.name] = f.type === 'table' ? [] : null;
  return out;
}

/** An editable copy of a record (rows copied too). */
export function editable(record: Values): Values {
  const out: Values = { ...record };
  for (const [k, v] of Object.entries(out)) {
    if (Array.isArray(v)) out[k] = v.map((r) => (r && typeof r === 'object' ? { ...r } : r));
  }
  return out;
}

/** A blank row for a table field. */
export function emptyRow(child: Doctype | undefined): Values {
  const row: Values = {};
  for (const f of child?.fields ?? []) row[f.name] = null;
  return row;
}

// ---------------------------------------------------------------------------
// Validation and the master's errors
// ---------------------------------------------------------------------------

function isEmpty(f: Field, v: unknown): boolean {
  if (f.type === 'table') return !Array.isArray(v) || v.length === 0;
  if (f.type === 'check') return false;
  return normalize(f, v) === null;
}

/** Required fields left empty, keyed as the master keys its errors. */
export function validateRequired(dt: Doctype, schema: Schema, values: Values): FieldErrors {
  const errors: FieldErrors = {};
  for (const f of inputFields(dt)) {
    if (f.required && isEmpty(f, values[f.name])) {
      errors[f.name] =
        f.type === 'table' ? `${label(f)} needs at least one row` : `${label(f)} is required`;
    }
    if (f.type !== 'table' || !f.table) continue;
    const child = schema.get(f.table);
    const rows: Values[] = Array.isArray(values[f.name]) ? values[f.name] : [];
    rows.forEach((row, i) => {
      for (const g of child ? inputFields(child) : []) {
        if (g.required && isEmpty(g, row?.[g.name])) {
          errors[`${f.name}[${i + 1}].${g.name}`] = `${label(f)} row ${i + 1}: ${label(g)} is required`;
        }
      }
    });
  }
  return errors;
}

export interface ErrorKey {
  field: string;
  /** 0-based row of a table field. */
  row?: number;
  child?: string;
}

/** Reads `party` or `lines[2].product` (1-based row, as the master writes it). */
export function parseErrorKey(key: string): ErrorKey | null {
  const m = /^([a-z][a-z0-9_]*)(?:\[(\d+)\]\.([a-z][a-z0-9_]*))?$/.exec(key);
  if (!m) return null;
  if (m[2] === undefined) return { field: m[1] };
  const row = Number(m[2]) - 1;
  if (row < 0) return null;
  return { field: m[1], row, child: m[3] };
}

export function errorKey(k: ErrorKey): string {
  return k.row === undefined ? k.field : `${k.field}[${k.row + 1}].${k.child}`;
}

/**
 * Which field a master's error is about, if any: a bad_request naming a
 * field of this doctype (or a cell of one of its tables). Anything else is a
 * message for the whole form.
 */
export function fieldOfError(dt: Doctype, schema: Schema, err: ApiError): string | null {
  if (err.code !== 'bad_request') return null;
  const d = err.details;
  if (!d || typeof d.field !== 'string') return null;
  if (typeof d.doctype === 'string' && d.doctype !== dt.name) return null;
  const k = parseErrorKey(d.field);
  if (!k) return null;
  const f = dt.fields.find((g) => g.name === k.field);
  if (!f) return null;
  if (k.row === undefined) return f.name;
  if (f.type !== 'table' || !f.table) return null;
  const child = schema.get(f.table);
  if (!child?.fields.some((g) => g.name === k.child)) return null;
  return errorKey(k);
}

/** Errors of one table, by 0-based row and child field. */
export function rowErrors(errors: FieldErrors, table: string): Map<number, Record<string, string>> {
  const out = new Map<number, Record<string, string>>();
  for (const [key, msg] of Object.entries(errors)) {
    const k = parseErrorKey(key);
    if (!k || k.field !== table || k.row === undefined || !k.child) continue;
    const row = out.get(k.row) ?? {};
    row[k.child] = msg;
    out.set(k.row, row);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Conflicts
// ---------------------------------------------------------------------------

export interface Difference {
  field: Field;
  mine: unknown;
  theirs: unknown;
  /** The two versions hold different values. */
  differs: boolean;
  /** You changed this field since you loaded the record. */
  edited: boolean;
}

function comparable(schema: Schema, f: Field, v: unknown): unknown {
  if (f.type === 'table') return rowsOut(schema, f, v).map(({ name: _n, ...rest }) => rest);
  if (f.compute) {
    const n = normalize({ ...f, compute: undefined }, v);
    const p = precisionOf(f);
    return typeof n === 'number' && p !== undefined ? roundTo(n, p) : n;
  }
  return normalize(f, v);
}

/**
 * Both versions of a record side by side, field by field: yours (as in the
 * form) and theirs (as the master has it now).
 */
export function compareVersions(
  dt: Doctype,
  schema: Schema,
  original: Values,
  mine: Values,
  theirs: Values,
): Difference[] {
  const mineComputed = computeRecord(dt, schema, mine);
  return dt.fields.map((f) => {
    const m = comparable(schema, f, mineComputed[f.name]);
    const t = comparable(schema, f, theirs[f.name]);
    const o = comparable(schema, f, computeRecord(dt, schema, original)[f.name]);
    return {
      field: f,
      mine: mineComputed[f.name],
      theirs: theirs[f.name],
      differs: !sameJson(m, t),
      edited: !f.compute && !sameJson(m, o),
    };
  });
}

/**
 * "Keep mine": your changes (against the version you loaded) applied on top
 * of the current record. Returns the new form values and the update to send
 * against the current revision.
 */
export function rebase(
  dt: Doctype,
  schema: Schema,
  original: Values,
  mine: Values,
  current: DbRecord,
): { values: Values; changes: Values } {
  const mineChanges = buildUpdate(dt, schema, original, mine);
  const values = editable(current);
  const copy = editable(mine);
  for (const k of Object.keys(mineChanges)) values[k] = copy[k];
  return { values, changes: buildUpdate(dt, schema, current, values) };
}
