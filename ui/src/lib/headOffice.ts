// Settings → Head office, free of the DOM: which records a kind of ERP can
// take, ticking them (a sale brings its customer and products along), a
// test connection's answer in words, and which field a refusal is about.

import { ApiError, type DoctypeChoice, type Kind, type Probe, type UpstreamForm } from './api';

/** The ERPs, as a clerk reads them. */
export const KIND_WORDS: Record<Kind, string> = { tryton: 'Tryton', erpnext: 'ERPNext' };

/** Doctypes a sale needs at the head office first (its links). */
const SALE_NEEDS = ['Party', 'Product'];

/** The records a head office of `kind` can take, in the app's order. */
export function choicesFor(choices: DoctypeChoice[], kind: Kind): DoctypeChoice[] {
  return choices.filter((c) => c.kind === kind);
}

/** The records shown as a list: "Party", "Product", "Sale", in their words. */
export function doctypeWords(doctype: string): string {
  switch (doctype) {
    case 'Party':
      return 'Parties (customers and suppliers)';
    case 'Product':
      return 'Products';
    case 'Sale':
      return 'Sales';
    default:
      return doctype;
  }
}

/**
 * The ticked records after `doctype` is ticked (`on`) or unticked, in the
 * choices' order. A sale names its customer and products, so ticking Sale
 * ticks Party and Product, and unticking either unticks Sale.
 */
export function tick(choices: DoctypeChoice[], kind: Kind, ticked: string[], doctype: string, on: boolean): string[] {
  const set = new Set(ticked);
  if (on) {
    set.add(doctype);
    if (doctype === 'Sale') SALE_NEEDS.forEach((d) => set.add(d));
  } else {
    set.delete(doctype);
    if (SALE_NEEDS.includes(doctype)) set.delete('Sale');
  }
  return choicesFor(choices, kind)
    .map((c) => c.doctype)
    .filter((d) => set.has(d));
}

/** The form once the ERP is changed: records that ERP cannot take are untick. */
export function withKind(form: UpstreamForm, kind: Kind, choices: DoctypeChoice[]): UpstreamForm {
  const offered = new Set(choicesFor(choices, kind).map((c) => c.doctype));
  return { ...form, kind, doctypes: form.doctypes.filter((d) => offered.has(d)) };
}

/** What the window sends: trimmed text, a blank password as "keep the saved one". */
export function formToSend(form: UpstreamForm): UpstreamForm {
  const ca = form.ca_file?.trim() ?? '';
  return {
    ...form,
    url: form.url.trim(),
    database: form.kind === 'tryton' ? form.database.trim() : '',
    user: form.user.trim(),
    password: form.password ? form.password : null,
    ca_file: ca ? ca : null,
  };
}

/** The field a refusal is about (`url`, `password` ...), if it names one. */
export function fieldOf(e: ApiError): string | null {
  return e.details?.reason === 'invalid_field' && typeof e.details.field === 'string' ? e.details.field : null;
}

/** One line of a test's answer. */
export interface ProbeLine {
  ok: boolean;
  text: string;
}

/** What a test connection found, a line each: the server, the company, each kind of record. */
export function probeLines(p: Probe): ProbeLine[] {
  const lines: ProbeLine[] = [
    {
      ok: true,
      text: `Signed in to ${p.server}${p.version ? ` ${p.version}` : ''} as ${p.user}.`,
    },
    {
      ok: true,
      text: p.company ? `Company: ${p.company}.` : 'No company is set for this user at the head office.',
    },
  ];
  for (const m of p.models) {
    lines.push(
      m.present
        ? { ok: true, text: `${doctypeWords(m.doctype)}: found (${m.model}).` }
        : { ok: false, text: `${doctypeWords(m.doctype)}: ${m.problem ?? `${m.model} is missing at the head office.`}` },
    );
  }
  return lines;
}

/** The heading of a test's answer. */
export function probeHeading(p: Probe): string {
  return p.ok
    ? 'The head office answered: everything needed is there.'
    : 'The head office answered, but something is missing there:';
}

/** The heading of a test that failed, by what stopped it. */
export function failureHeading(e: ApiError): string {
  if (fieldOf(e)) return 'Fix the form first:';
  switch (e.code) {
    case 'unauthorized':
      return 'The head office refused to sign in:';
    case 'unavailable':
      return 'The head office could not be reached:';
    default:
      return 'The test failed:';
  }
}
