import { describe, expect, it } from 'vitest';
import { ApiError, type Doctype } from './api';
import { schemaOf } from './form';
import {
  caretAt,
  chipComplete,
  chipText,
  chipToFilter,
  chipsToFilters,
  escapeLike,
  nextSort,
  opsFor,
  queryProblem,
  sortArg,
  type Chip,
} from './query';
import { parsePairingUrl, shortFingerprint, urlHasCode } from './pairing';
import doctypes from './testdata/doctypes.json';

const schema = schemaOf(doctypes as Doctype[]);
const Party = schema.get('Party')!;
const Product = schema.get('Product')!;
const Sale = schema.get('Sale')!;
const field = (dt: Doctype, n: string) => dt.fields.find((f) => f.name === n)!;

describe('filter chips', () => {
  it('become Frappe-style filters the master reads', () => {
    const chips: Chip[] = [
      { field: 'city', op: 'contains', value: 'Kash' },
      { field: 'kind', op: '=', value: 'Customer' },
      { field: 'code', op: 'starts', value: 'C-' },
      { field: 'email', op: 'empty' },
      { field: 'phone', op: 'set' },
      { field: 'notes', op: 'not_contains', value: 'old' },
    ];
    expect(chipsToFilters(chips, Party)).toEqual([
      ['city', 'like', '%Kash%'],
      ['kind', '=', 'Customer'],
      ['code', 'like', 'C-%'],
      ['email', '=', null],
      ['phone', '!=', null],
      ['notes', 'not like', '%old%'],
    ]);
  });

  it('no chips is no filters argument at all', () => {
    expect(chipsToFilters([], Party)).toBeUndefined();
  });

  it('escapes % and \\ typed into a contains filter, but not _', () => {
    expect(escapeLike('50% off \\ a_b')).toBe('50\\% off \\\\ a_b');
    expect(chipToFilter({ field: 'city', op: 'contains', value: '100%' }, field(Party, 'city'))).toEqual([
      'city',
      'like',
      '%100\\%%',
    ]);
  });

  it('numbers and check boxes are sent typed', () => {
    expect(chipToFilter({ field: 'list_price', op: '>=', value: '12.5' }, field(Product, 'list_price'))).toEqual([
      'list_price',
      '>=',
      12.5,
    ]);
    expect(chipToFilter({ field: 'active', op: '=', value: 'false' }, field(Product, 'active'))).toEqual([
      'active',
      '=',
      false,
    ]);
    expect(chipToFilter({ field: 'active', op: '=', value: 'true' }, field(Product, 'active'))).toEqual([
      'active',
      '=',
      true,
    ]);
  });

  it('offers operators that fit the field type', () => {
    expect(opsFor(field(Party, 'city'))).toContain('contains');
    expect(opsFor(field(Product, 'list_price'))).not.toContain('contains');
    expect(opsFor(field(Product, 'list_price'))).toContain('>=');
    expect(opsFor(field(Sale, 'party'))).toEqual(['=', '!=', 'empty', 'set']);
  });

  it('a chip needs a value unless its operator takes none', () => {
    expect(chipComplete({ field: 'city', op: 'contains', value: ' ' }, field(Party, 'city'))).toBe(false);
    expect(chipComplete({ field: 'city', op: 'contains', value: 'K' }, field(Party, 'city'))).toBe(true);
    expect(chipComplete({ field: 'city', op: 'empty' }, field(Party, 'city'))).toBe(true);
    expect(chipComplete({ field: 'list_price', op: 'contains', value: '1' }, field(Product, 'list_price'))).toBe(false);
    expect(chipComplete({ field: 'city', op: '=', value: 'x' }, undefined)).toBe(false);
  });

  it('reads as a phrase, with a link shown by its title', () => {
    expect(chipText({ field: 'city', op: 'contains', value: 'Kash' }, field(Party, 'city'))).toBe('City contains Kash');
    expect(chipText({ field: 'party', op: '=', value: 'uuid-1', display: 'Acme' }, field(Sale, 'party'))).toBe(
      'Party = Acme',
    );
    expect(chipText({ field: 'email', op: 'empty' }, field(Party, 'email'))).toBe('Email is empty');
    expect(chipText({ field: 'active', op: '=', value: 'false' }, field(Product, 'active'))).toBe('Active: no');
  });
});

describe('sorting', () => {
  it('a click on the sorted column flips it, another column starts ascending', () => {
    let s = { field: 'modified', desc: true };
    s = nextSort(s, 'city');
    expect(s).toEqual({ field: 'city', desc: false });
    s = nextSort(s, 'city');
    expect(s).toEqual({ field: 'city', desc: true });
    s = nextSort(s, 'city');
    expect(s).toEqual({ field: 'city', desc: false });
  });

  it('is sent as field:dir with the name as tie-breaker', () => {
    expect(sortArg({ field: 'total', desc: true })).toBe('total:desc,name');
    expect(sortArg({ field: 'city', desc: false })).toBe('city:asc,name');
  });
});

describe('query errors', () => {
  const syntax = (position: number, path = '') =>
    new ApiError('bad_request', `query syntax error at position ${position}: expected a value after 'city:', found '('`, {
      reason: 'syntax',
      position,
      path,
      expected: "a value after 'city:'",
      found: "'('",
    });

  it('a text syntax error keeps the position, what was expected and found', () => {
    expect(queryProblem(syntax(6))).toEqual({
      kind: 'syntax',
      message: "query syntax error at position 6: expected a value after 'city:', found '('",
      position: 6,
      expected: "a value after 'city:'",
      found: "'('",
    });
  });

  it('a JSON filter error points at the chip', () => {
    expect(queryProblem(syntax(2, 'filters[1][2]'))).toMatchObject({ kind: 'chip', chip: 1 });
  });

  it('other errors are just their message', () => {
    const e = new ApiError('bad_request', "Party has no field 'cty'", { reason: 'unknown_field', field: 'cty' });
    expect(queryProblem(e)).toEqual({ kind: 'other', message: "Party has no field 'cty'" });
    expect(queryProblem({ code: 'unavailable', message: 'gone' })).toEqual({ kind: 'other', message: 'gone' });
  });

  it('puts the caret under the 1-based character position', () => {
    // "city:(x": the master reports position 6, the '('.
    const c = caretAt('city:(x', 6);
    expect(c).toEqual({ index: 5, pad: '     ' });
    expect('city:(x'[c.index]).toBe('(');
    // End of the query is length + 1.
    expect(caretAt('(a:1', 5)).toEqual({ index: 4, pad: '    ' });
  });

  it('counts characters as the master does, not UTF-16 units', () => {
    // "😀" is one character but two UTF-16 units.
    const text = 'n:😀 (';
    const c = caretAt(text, 5); // the '(' is the 5th character
    expect(c.index).toBe(5);
    expect(text.slice(c.index, c.index + 1)).toBe('(');
    expect(c.pad).toBe('    ');
  });

  it('clamps positions outside the text', () => {
    expect(caretAt('abc', 0).index).toBe(0);
    expect(caretAt('abc', 99).index).toBe(3);
  });
});

describe('pairing URLs', () => {
  it('reads host, port, name, fingerprint and code', () => {
    expect(parsePairingUrl('outpost://192.168.1.10:7355/?name=Kashgar%20depot&fp=ab12cd34ef&code=4827-1930')).toEqual({
      host: '192.168.1.10',
      port: '7355',
      name: 'Kashgar depot',
      fp: 'ab12cd34ef',
      code: '4827-1930',
    });
    expect(parsePairingUrl(' outpost://[fe80::1]:7355/?name=A ')).toMatchObject({ host: 'fe80::1', port: '7355', code: null });
  });

  it('a master name is not a URL', () => {
    expect(parsePairingUrl('Kashgar depot')).toBeNull();
    expect(urlHasCode('Kashgar depot')).toBe(false);
    expect(urlHasCode('outpost://h:1/?name=A')).toBe(false);
    expect(urlHasCode('outpost://h:1/?name=A&code=1234')).toBe(true);
  });

  it('shortens fingerprints to four groups of four, as the app does', () => {
    expect(shortFingerprint('025ee43563c6325eb9d08ab207fe8689db75a08aee')).toBe('025e-e435-63c6-325e');
    expect(shortFingerprint('02:5E:E4:35:63:C6:32:5E:B9')).toBe('025e-e435-63c6-325e');
    expect(shortFingerprint('abc')).toBe('abc');
    expect(shortFingerprint('')).toBe('');
  });
});
