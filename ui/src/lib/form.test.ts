import { describe, expect, it } from 'vitest';
import { ApiError, type DbRecord, type Doctype } from './api';
import {
  buildInsert,
  buildUpdate,
  compareVersions,
  computeRecord,
  computeRow,
  editable,
  emptyValues,
  fieldOfError,
  isDirty,
  parseCompute,
  parseErrorKey,
  rebase,
  roundTo,
  rowErrors,
  schemaOf,
  validateRequired,
} from './form';
import doctypes from './testdata/doctypes.json';

// The starter doctypes exactly as `outpost db doctypes` prints them.
const schema = schemaOf(doctypes as Doctype[]);
const Party = schema.get('Party')!;
const Sale = schema.get('Sale')!;
const SaleLine = schema.get('Sale Line')!;

const sale: DbRecord = {
  doctype: 'Sale',
  name: 'S1',
  rev: 3,
  created: '2026-11-21T09:16:05.211Z',
  modified: '2026-11-21T09:16:05.211Z',
  modified_by: 'cli',
  party: 'P1',
  sale_date: '2026-11-20',
  state: 'Draft',
  reference: null,
  total: 43.78,
  lines: [
    { name: 'L1', idx: 1, product: 'R1', quantity: 3, unit_price: 1.26, amount: 3.78 },
    { name: 'L2', idx: 2, product: 'R2', quantity: 2, unit_price: 20, amount: 40 },
  ],
};

describe('computed fields', () => {
  it('reads the two compute forms the store knows', () => {
    expect(parseCompute('quantity * unit_price')).toEqual({ kind: 'product', a: 'quantity', b: 'unit_price' });
    expect(parseCompute(' sum( lines.amount ) ')).toEqual({ kind: 'sum', table: 'lines', field: 'amount' });
    expect(parseCompute('lines.amount')).toBeNull();
    expect(parseCompute(undefined)).toBeNull();
  });

  it('rounds half away from zero on the decimal form, like the store', () => {
    expect(roundTo(1.005, 2)).toBe(1.01); // binary rounding would give 1.00
    expect(roundTo(1.255, 2)).toBe(1.26);
    expect(roundTo(-2.345, 2)).toBe(-2.35);
    expect(roundTo(9.995, 2)).toBe(10);
    expect(roundTo(0.125, 0)).toBe(0);
    expect(roundTo(12.5, 2)).toBe(12.5);
    expect(roundTo(99.5, 0)).toBe(100);
  });

  it('computes a line amount from quantity and the rounded unit price', () => {
    // The store rounds 1.255 to 1.26 before multiplying: 3 * 1.26 = 3.78.
    expect(computeRow(SaleLine, { quantity: 3, unit_price: 1.255 }).amount).toBe(3.78);
    expect(computeRow(SaleLine, { quantity: 0.1, unit_price: 0.2 }).amount).toBe(0.02);
    expect(computeRow(SaleLine, { quantity: null, unit_price: 5 }).amount).toBe(0);
    expect(computeRow(SaleLine, { quantity: '4', unit_price: '2.5' }).amount).toBe(10);
  });

  it('sums the line amounts into the total as you type', () => {
    const v = editable(sale);
    v.lines[0].quantity = 10;
    v.lines.push({ product: 'R3', quantity: 1, unit_price: 0.333 });
    const c = computeRecord(Sale, schema, v);
    expect(c.lines.map((l: any) => l.amount)).toEqual([12.6, 40, 0.33]);
    expect(c.total).toBe(52.93);
    // Floating-point sums are rounded to the currency's cents.
    const many = { lines: Array.from({ length: 10 }, () => ({ quantity: 1, unit_price: 0.1 })) };
    expect(computeRecord(Sale, schema, many).total).toBe(1);
    expect(computeRecord(Sale, schema, { lines: [] }).total).toBe(0);
  });
});

describe('what a save sends', () => {
  it('an update sends only the changed fields', () => {
    const v = editable(sale);
    expect(buildUpdate(Sale, schema, sale, v)).toEqual({});
    v.state = 'Confirmed';
    v.reference = '';
    expect(buildUpdate(Sale, schema, sale, v)).toEqual({ state: 'Confirmed' });
    v.reference = 'PO-7';
    expect(buildUpdate(Sale, schema, sale, v)).toEqual({ state: 'Confirmed', reference: 'PO-7' });
  });

  it('clearing a field sends null, and empty text equals unset', () => {
    const p = { name: 'P', rev: 1, party_name: 'Acme', city: 'Kashgar', email: null };
    expect(buildUpdate(Party, schema, p, { ...p, city: '', email: '' })).toEqual({ city: null });
  });

  it('a changed line sends the whole table with row names kept and computed values left out', () => {
    const v = editable(sale);
    v.lines[1].quantity = 5;
    const u = buildUpdate(Sale, schema, sale, v);
    expect(Object.keys(u)).toEqual(['lines']);
    expect(u.lines).toEqual([
      { name: 'L1', product: 'R1', quantity: 3, unit_price: 1.26 },
      { name: 'L2', product: 'R2', quantity: 5, unit_price: 20 },
    ]);
  });

  it('adding, removing or reordering rows changes the table; editing the computed total does not count', () => {
    const added = editable(sale);
    added.lines.push({ product: 'R9', quantity: 1, unit_price: 1 });
    expect(buildUpdate(Sale, schema, sale, added).lines).toHaveLength(3);
    const removed = editable(sale);
    removed.lines.splice(0, 1);
    expect(buildUpdate(Sale, schema, sale, removed).lines).toEqual([
      { name: 'L2', product: 'R2', quantity: 2, unit_price: 20 },
    ]);
    const moved = editable(sale);
    moved.lines.reverse();
    expect(buildUpdate(Sale, schema, sale, moved).lines.map((l: any) => l.name)).toEqual(['L2', 'L1']);
    const total = editable(sale);
    total.total = 1;
    total.lines[0].amount = 99;
    expect(buildUpdate(Sale, schema, sale, total)).toEqual({});
  });

  it('numbers typed as text become numbers; text that is not a number is left for the master to refuse', () => {
    const v = editable(sale);
    v.lines[0].quantity = '7';
    v.lines[1].unit_price = 'abc';
    const u = buildUpdate(Sale, schema, sale, v);
    expect(u.lines[0].quantity).toBe(7);
    expect(u.lines[1].unit_price).toBe('abc');
  });

  it('check boxes: unset equals unticked; ticking and unticking are sent', () => {
    const Product = schema.get('Product')!;
    const p = { name: 'R', rev: 1, product_name: 'Rice', active: null };
    expect(buildUpdate(Product, schema, p, { ...p, active: false })).toEqual({});
    expect(buildUpdate(Product, schema, p, { ...p, active: true })).toEqual({ active: true });
    expect(buildUpdate(Product, schema, { ...p, active: 1 }, { ...p, active: false })).toEqual({ active: false });
  });

  it('an insert sends filled fields and rows, nothing computed', () => {
    const v = emptyValues(Sale);
    expect(v.lines).toEqual([]);
    v.party = 'P1';
    v.state = '';
    v.lines.push({ product: 'R1', quantity: 2, unit_price: 3, amount: 6 });
    expect(buildInsert(Sale, schema, { ...v, total: 6 })).toEqual({
      party: 'P1',
      lines: [{ product: 'R1', quantity: 2, unit_price: 3 }],
    });
  });

  it('tells a form with unsaved edits from a clean one', () => {
    expect(isDirty(Sale, schema, sale, editable(sale))).toBe(false);
    const v = editable(sale);
    v.lines[0].product = 'R2';
    expect(isDirty(Sale, schema, sale, v)).toBe(true);
    expect(isDirty(Sale, schema, null, emptyValues(Sale))).toBe(false);
    expect(isDirty(Sale, schema, null, { ...emptyValues(Sale), reference: 'x' })).toBe(true);
  });
});

describe('required fields', () => {
  it('marks empty required fields, including cells of child rows', () => {
    const v = emptyValues(Sale);
    v.lines = [{ product: 'R1', quantity: 1 }, { product: '', quantity: 2 }];
    expect(validateRequired(Sale, schema, v)).toEqual({
      party: 'Party is required',
      'lines[2].product': 'Lines row 2: Product is required',
    });
    v.party = 'P1';
    v.lines[1].product = 'R2';
    expect(validateRequired(Sale, schema, v)).toEqual({});
  });

  it('whitespace is empty', () => {
    expect(validateRequired(Party, schema, { party_name: '   ' })).toEqual({ party_name: 'Party Name is required' });
  });
});

describe("the master's errors", () => {
  const fieldErr = (field: string, doctype = 'Sale') =>
    new ApiError('bad_request', `${doctype}.${field} is wrong`, { reason: 'missing', doctype, field });

  it('maps a field error to that field', () => {
    expect(fieldOfError(Sale, schema, fieldErr('party'))).toBe('party');
  });

  it('maps a child row error (1-based row) to the cell', () => {
    expect(fieldOfError(Sale, schema, fieldErr('lines[2].product'))).toBe('lines[2].product');
    expect(parseErrorKey('lines[2].product')).toEqual({ field: 'lines', row: 1, child: 'product' });
    const rows = rowErrors({ 'lines[2].product': 'm', party: 'p', 'lines[1].quantity': 'q' }, 'lines');
    expect([...rows.entries()]).toEqual([
      [1, { product: 'm' }],
      [0, { quantity: 'q' }],
    ]);
  });

  it('anything else is a message for the whole form', () => {
    expect(fieldOfError(Sale, schema, fieldErr('nope'))).toBeNull();
    expect(fieldOfError(Sale, schema, fieldErr('party', 'Party'))).toBeNull();
    expect(fieldOfError(Sale, schema, fieldErr('lines[1].nope'))).toBeNull();
    expect(fieldOfError(Sale, schema, fieldErr('party[1].x'))).toBeNull();
    expect(fieldOfError(Sale, schema, new ApiError('unavailable', 'gone'))).toBeNull();
    expect(fieldOfError(Sale, schema, new ApiError('conflict', 'in use', { field: 'party' }))).toBeNull();
    expect(parseErrorKey('lines[0].product')).toBeNull();
  });
});

describe('conflicts', () => {
  const theirs: DbRecord = {
    ...sale,
    rev: 4,
    modified_by: 'AB:CD',
    state: 'Confirmed',
    lines: [{ ...sale.lines[0] }, { ...sale.lines[1], quantity: 3, amount: 60 }],
    total: 63.78,
  };

  it('compares both versions field by field and says which differ and which you edited', () => {
    const mine = editable(sale);
    mine.reference = 'PO-7';
    const diffs = compareVersions(Sale, schema, sale, mine, theirs);
    const by = Object.fromEntries(diffs.map((d) => [d.field.name, d]));
    expect(diffs.map((d) => d.field.name)).toEqual(Sale.fields.map((f) => f.name));
    expect(by.party.differs).toBe(false);
    expect(by.reference).toMatchObject({ differs: true, edited: true, mine: 'PO-7', theirs: null });
    expect(by.state).toMatchObject({ differs: true, edited: false, mine: 'Draft', theirs: 'Confirmed' });
    expect(by.lines.differs).toBe(true);
    expect(by.total).toMatchObject({ differs: true, mine: 43.78, theirs: 63.78 });
  });

  it('identical versions have no differences', () => {
    const diffs = compareVersions(Sale, schema, sale, editable(sale), { ...sale, rev: 4 });
    expect(diffs.filter((d) => d.differs)).toEqual([]);
  });

  it('"keep mine" applies only your changes on top of the current record', () => {
    const mine = editable(sale);
    mine.reference = 'PO-7';
    const { values, changes } = rebase(Sale, schema, sale, mine, theirs);
    // Their state change stays; your reference goes on top.
    expect(values.state).toBe('Confirmed');
    expect(values.reference).toBe('PO-7');
    expect(values.rev).toBe(4);
    expect(changes).toEqual({ reference: 'PO-7' });
  });

  it('"keep mine" with your own table edit sends your rows', () => {
    const mine = editable(sale);
    mine.lines[0].quantity = 9;
    const { values, changes } = rebase(Sale, schema, sale, mine, theirs);
    expect(values.lines.map((l: any) => l.quantity)).toEqual([9, 2]);
    expect(changes.lines).toEqual([
      { name: 'L1', product: 'R1', quantity: 9, unit_price: 1.26 },
      { name: 'L2', product: 'R2', quantity: 2, unit_price: 20 },
    ]);
    expect(changes).not.toHaveProperty('state');
  });
});
