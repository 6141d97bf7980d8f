import { describe, expect, it } from 'vitest';
import { ApiError, type DoctypeChoice, type Probe, type UpstreamForm } from './api';
import { failureHeading, fieldOf, formToSend, probeHeading, probeLines, tick, withKind } from './headOffice';

const choices: DoctypeChoice[] = [
  { kind: 'tryton', doctype: 'Party', model: 'party.party' },
  { kind: 'tryton', doctype: 'Product', model: 'product.product' },
  { kind: 'tryton', doctype: 'Sale', model: 'sale.sale' },
  { kind: 'erpnext', doctype: 'Party', model: 'Customer' },
  { kind: 'erpnext', doctype: 'Product', model: 'Item' },
];

const form: UpstreamForm = {
  kind: 'tryton',
  url: ' https://erp.example.com/ ',
  database: ' hq ',
  user: ' admin ',
  password: '',
  password_set: true,
  ca_file: '  ',
  doctypes: ['Party', 'Product', 'Sale'],
};

describe('records that go up', () => {
  it('ticks Party and Product with Sale, in the choices order', () => {
    expect(tick(choices, 'tryton', [], 'Sale', true)).toEqual(['Party', 'Product', 'Sale']);
    expect(tick(choices, 'tryton', ['Product'], 'Party', true)).toEqual(['Party', 'Product']);
  });

  it('unticks Sale when its customer or products stop going up', () => {
    expect(tick(choices, 'tryton', ['Party', 'Product', 'Sale'], 'Party', false)).toEqual(['Product']);
    expect(tick(choices, 'tryton', ['Party', 'Product', 'Sale'], 'Sale', false)).toEqual(['Party', 'Product']);
  });

  it('drops what the other ERP cannot take when the kind changes', () => {
    const e = withKind(form, 'erpnext', choices);
    expect(e.kind).toBe('erpnext');
    expect(e.doctypes).toEqual(['Party', 'Product']);
    expect(withKind(e, 'tryton', choices).doctypes).toEqual(['Party', 'Product']);
  });
});

describe('what the window sends', () => {
  it('trims the text and sends a blank password and CA file as none (keep the saved password)', () => {
    const sent = formToSend(form);
    expect(sent).toMatchObject({ url: 'https://erp.example.com/', database: 'hq', user: 'admin', password: null, ca_file: null });
    expect(formToSend({ ...form, password: 's3cret' }).password).toBe('s3cret');
  });

  it('sends no database to ERPNext', () => {
    expect(formToSend({ ...form, kind: 'erpnext' }).database).toBe('');
  });
});

describe('test connection in words', () => {
  const probe: Probe = {
    server: 'Tryton',
    version: '8.2',
    user: 'admin',
    company: 'Head Office',
    models: [
      { doctype: 'Party', model: 'party.party', present: true, problem: null },
      {
        doctype: 'Sale',
        model: 'sale.sale',
        present: false,
        problem: 'sale.sale is not installed at the head office: activate the sale module',
      },
    ],
    ok: false,
  };

  it('says what was found, line by line', () => {
    expect(probeLines(probe)).toEqual([
      { ok: true, text: 'Signed in to Tryton 8.2 as admin.' },
      { ok: true, text: 'Company: Head Office.' },
      { ok: true, text: 'Parties (customers and suppliers): found (party.party).' },
      { ok: false, text: 'Sales: sale.sale is not installed at the head office: activate the sale module' },
    ]);
    expect(probeHeading(probe)).toMatch(/missing/);
    expect(probeHeading({ ...probe, ok: true })).toMatch(/everything needed/);
    expect(probeLines({ ...probe, version: null, company: null, models: [] })).toEqual([
      { ok: true, text: 'Signed in to Tryton as admin.' },
      { ok: true, text: 'No company is set for this user at the head office.' },
    ]);
  });

  it('names what stopped it, and the field a refusal is about', () => {
    const wrong = new ApiError('unauthorized', 'Tryton refused the user "admin": wrong user or password', { reason: 'head_office' });
    expect(failureHeading(wrong)).toMatch(/refused to sign in/);
    expect(fieldOf(wrong)).toBeNull();
    expect(failureHeading(new ApiError('unavailable', 'cannot reach Tryton', { reason: 'head_office' }))).toMatch(/could not be reached/);
    const bad = new ApiError('bad_request', 'Give the head office’s address', { reason: 'invalid_field', field: 'url' });
    expect(fieldOf(bad)).toBe('url');
    expect(failureHeading(bad)).toMatch(/Fix the form/);
  });
});
