// List logic, free of the DOM: filter chips and the JSON filters they
// become, sort keys, and where a query's syntax error points.

import { ApiError, type Doctype, type Field, type Filter } from './api';

// ---------------------------------------------------------------------------
// Filter chips
// ---------------------------------------------------------------------------

export type ChipOp =
  | 'contains'
  | 'not_contains'
  | 'starts'
  | '='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'empty'
  | 'set';

export interface Chip {
  field: string;
  op: ChipOp;
  /** As typed (text), a number, true/false for a check box, a record name for a link. */
  value?: unknown;
  /** What the chip shows for the value (a link's title). */
  display?: string;
}

export const OP_LABEL: Record<ChipOp, string> = {
  contains: 'contains',
  not_contains: 'does not contain',
  starts: 'starts with',
  '=': '=',
  '!=': '≠',
  '<': '<',
  '<=': '≤',
  '>': '>',
  '>=': '≥',
  empty: 'is empty',
  set: 'is set',
};

/** Operators that take no value. */
export function opTakesValue(op: ChipOp): boolean {
  return op !== 'empty' && op !== 'set';
}

/** Fields a chip can filter on: every stored field (not tables). */
export function filterableFields(dt: Doctype): Field[] {
  return dt.fields.filter((f) => f.type !== 'table');
}

/** The operators that make sense for a field's type, most useful first. */
export function opsFor(f: Field): ChipOp[] {
  switch (f.type) {
    case 'data':
    case 'text':
      return ['contains', 'starts', '=', '!=', 'not_contains', 'empty', 'set'];
    case 'int':
    case 'float':
    case 'currency':
    case 'date':
    case 'datetime':
      return ['=', '!=', '>', '>=', '<', '<=', 'empty', 'set'];
    case 'check':
      return ['='];
    case 'select':
    case 'link':
      return ['=', '!=', 'empty', 'set'];
    default:
      return ['='];
  }
}

/** Escapes a typed text for a JSON `like` pattern (`%` wildcard, `\` escape). */
export function escapeLike(s: string): string {
  return s.replace(/[\\%]/g, (c) => `\\${c}`);
}

function typedValue(f: Field, v: unknown): unknown {
  if (f.type === 'check') return v === true || v === 'true' || v === 1 || v === '1';
  if (f.type === 'int' || f.type === 'float' || f.type === 'currency') {
    if (typeof v === 'number') return v;
    const t = String(v ?? '').trim();
    const n = Number(t);
    return t !== '' && Number.isFinite(n) ? n : t;
  }
  return v === undefined || v === null ? '' : String(v);
}

/** One chip as a Frappe-style filter `[field, op, value]`. */
export function chipToFilter(chip: Chip, f: Field): Filter {
  const v = typedValue(f, chip.value);
  switch (chip.op) {
    case 'contains':
      return [chip.field, 'like', `%${escapeLike(String(v))}%`];
    case 'not_contains':
      return [chip.field, 'not like', `%${escapeLike(String(v))}%`];
    case 'starts':
      return [chip.field, 'like', `${escapeLike(String(v))}%`];
    case 'empty':
      return [chip.field, '=', null];
    case 'set':
      return [chip.field, '!=', null];
    default:
      return [chip.field, chip.op, v];
  }
}

/** The chips of a list as the `filters` argument (undefined when none). */
export function chipsToFilters(chips: Chip[], dt: Doctype): Filter[] | undefined {
  const out: Filter[] = [];
  for (const c of chips) {
    const f = dt.fields.find((g) => g.name === c.field);
    if (f) out.push(chipToFilter(c, f));
  }
  return out.length > 0 ? out : undefined;
}

/** Whether a chip can be added as it is (a value where one is needed). */
export function chipComplete(chip: Chip, f: Field | undefined): boolean {
  if (!f || !opsFor(f).includes(chip.op)) return false;
  if (!opTakesValue(chip.op) || f.type === 'check') return true;
  if (chip.value === undefined || chip.value === null) return false;
  return String(chip.value).trim() !== '';
}

export function chipText(chip: Chip, f: Field | undefined): string {
  const label = f?.label ?? chip.field;
  if (!opTakesValue(chip.op)) return `${label} ${OP_LABEL[chip.op]}`;
  if (f?.type === 'check') return `${label}: ${typedValue(f, chip.value) ? 'yes' : 'no'}`;
  const shown = chip.display ?? String(chip.value ?? '');
  return `${label} ${OP_LABEL[chip.op]} ${shown}`;
}

// ---------------------------------------------------------------------------
// Sorting
// ---------------------------------------------------------------------------

export interface Sort {
  field: string;
  desc: boolean;
}

export const DEFAULT_SORT: Sort = { field: 'modified', desc: true };

/** A click on a header: the same field flips direction, another starts ascending. */
export function nextSort(current: Sort, field: string): Sort {
  if (current.field === field) return { field, desc: !current.desc };
  return { field, desc: false };
}

/** The `sort` argument; the record name breaks ties so pages do not overlap. */
export function sortArg(s: Sort): string {
  return `${s.field}:${s.desc ? 'desc' : 'asc'},name`;
}

// ---------------------------------------------------------------------------
// Errors of a query
// ---------------------------------------------------------------------------

export type QueryProblem =
  /** In the typed query: `position` is 1-based, in characters. */
  | { kind: 'syntax'; message: string; position: number; expected: string; found: string }
  /** In the chips: `chip` is the 0-based index of the chip. */
  | { kind: 'chip'; message: string; chip: number }
  | { kind: 'other'; message: string };

/**
 * What a failed query or count says about the query bar. The master gives
 * text syntax errors a character position and JSON filter errors a path
 * (`filters[1][2]`) with the 1-based index of the top-level condition.
 */
export function queryProblem(e: unknown): QueryProblem {
  const err = ApiError.from(e);
  const d = err.details;
  if (err.code === 'bad_request' && d && d.reason === 'syntax') {
    if (typeof d.path === 'string' && d.path !== '') {
      const m = /^filters\[(\d+)\]/.exec(d.path);
      const chip = m ? Number(m[1]) : Math.max(0, Number(d.position ?? 1) - 1);
      return { kind: 'chip', message: err.message, chip };
    }
    return {
      kind: 'syntax',
      message: err.message,
      position: Math.max(1, Number(d.position) || 1),
      expected: String(d.expected ?? ''),
      found: String(d.found ?? ''),
    };
  }
  return { kind: 'other', message: err.message };
}

/**
 * Where a 1-based character position falls in the text: the UTF-16 index
 * for the input's selection, and the padding that puts a caret under it
 * (one column per character, as the query shows in a monospace font).
 */
export function caretAt(text: string, position: number): { index: number; pad: string } {
  const chars = Array.from(text);
  const p = Math.min(Math.max(1, Math.floor(position)), chars.length + 1);
  const before = chars.slice(0, p - 1);
  return {
    index: before.join('').length,
    pad: before.map((c) => (c === '\t' ? '\t' : ' ')).join(''),
  };
}
