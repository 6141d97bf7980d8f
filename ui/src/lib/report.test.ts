import { describe, expect, it } from 'vitest';
import { addDays, fillDays, localToday, seriesOf, ticks, toCsv, type ReportResult } from './report';

const result: ReportResult = {
  columns: [
    { key: 'group', label: 'Party', kind: 'group' },
    { key: 'title', label: 'Party Name', kind: 'title' },
    { key: 'count', label: 'Count', kind: 'measure' },
    { key: 'sum(total)', label: 'Sum of Total', kind: 'measure' },
  ],
  rows: [
    ['p1', 'Acme, "the" best', 2, 12.5],
    ['p2', null, 1, 3],
  ],
  truncated: false,
};

describe('reports', () => {
  it('writes CSV with quotes where a comma or quote needs them', () => {
    expect(toCsv(result)).toBe(
      'Party,Party Name,Count,Sum of Total\r\np1,"Acme, ""the"" best",2,12.5\r\np2,,1,3\r\n',
    );
  });

  it('charts the last measure by title, falling back to the group', () => {
    expect(seriesOf(result)).toEqual({
      label: 'Sum of Total',
      labels: ['Acme, "the" best', 'p2'],
      values: [12.5, 3],
    });
    expect(seriesOf(result, 'count')?.values).toEqual([2, 1]);
  });

  it('puts back the days without sales as zeros, across a month end', () => {
    const days: ReportResult = {
      columns: [
        { key: 'group', label: 'Sale Date (day)', kind: 'group' },
        { key: 'count', label: 'Count', kind: 'measure' },
      ],
      rows: [['2026-11-30', 4]],
      truncated: false,
    };
    const filled = fillDays(days, '2026-12-02', 4);
    expect(filled.rows).toEqual([
      ['2026-11-29', 0],
      ['2026-11-30', 4],
      ['2026-12-01', 0],
      ['2026-12-02', 0],
    ]);
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
  });

  it('dates today by the local clock and makes round axis steps', () => {
    expect(localToday(new Date(2026, 0, 5, 23, 59))).toBe('2026-01-05');
    expect(ticks(95)).toEqual([0, 50, 100]);
    expect(ticks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(ticks(0)).toEqual([0, 1]);
  });
});
