import { describe, expect, it } from 'vitest';
import type { StandbyDeviceView, StandbyView } from './api';
import { changesWords, fencedWords, secondsWords, standbyHereLine, standbyLine, writesLine } from './standby';

function device(d: Partial<StandbyDeviceView>): StandbyDeviceView {
  return {
    fingerprint: 'ab12cd34ef56'.padEnd(64, '0'),
    short: 'ab12-cd34',
    name: 'Till 2',
    connected: true,
    acked_seq: 40,
    master_seq: 40,
    lag_changes: 0,
    lag_seconds: 0,
    at: 1_764_700_000,
    ...d,
  };
}

function view(d: Partial<StandbyDeviceView> | null, fenced: number | null = null): StandbyView {
  return {
    standby: d ? device(d) : null,
    fenced,
    policy: { durability: 'async', when_away: 'go_async' },
    writes: 'at_commit',
  };
}

describe('the standby line', () => {
  it('says when the office has no standby', () => {
    const l = standbyLine(view(null));
    expect(l.tone).toBe('none');
    expect(l.text).toMatch(/^No standby/);
  });

  it('says a standby that holds everything is following, 0 changes behind', () => {
    expect(standbyLine(view({}))).toEqual({ tone: 'ok', text: 'Standby: Till 2 — following, 0 changes behind' });
  });

  it('gives the changes and seconds a following standby is behind', () => {
    expect(standbyLine(view({ lag_changes: 3, lag_seconds: 1.24 }))).toEqual({
      tone: 'behind',
      text: 'Standby: Till 2 — following, 3 changes, 1.2 s behind',
    });
    expect(standbyLine(view({ lag_changes: 1, lag_seconds: 45.6 })).text).toBe(
      'Standby: Till 2 — following, 1 change, 46 s behind',
    );
  });

  it('says a standby that has not called is away, with what it lacks', () => {
    const l = standbyLine(view({ connected: false, acked_seq: 0, lag_changes: 12 }));
    expect(l.tone).toBe('away');
    expect(l.text).toBe('Standby: Till 2 — away, 12 changes behind. Start Outpost as the standby on that PC.');
    expect(standbyLine(view({ connected: false })).text).toMatch(/^Standby: Till 2 — away\. /);
  });

  it('names an unnamed standby by its short fingerprint', () => {
    expect(standbyLine(view({ name: '' })).text).toMatch(/^Standby: ab12-cd34 — /);
  });
});

describe('the words', () => {
  it('counts changes', () => {
    expect([0, 1, 2].map(changesWords)).toEqual(['0 changes', '1 change', '2 changes']);
  });

  it('rounds seconds as a person reads them', () => {
    expect([0, 0.44, 9.96, 12.4, 119, 600, -1, NaN].map(secondsWords)).toEqual([
      '0 s',
      '0.4 s',
      '10 s',
      '12 s',
      '119 s',
      '10 min',
      '0 s',
      '0 s',
    ]);
  });
});

describe('the fenced banner', () => {
  it('is there only when a standby was promoted in this PC\'s place', () => {
    expect(fencedWords(null)).toBeNull();
    expect(fencedWords(4)).toBe(
      "A standby was promoted in this PC's place (epoch 4): this PC takes no writes. Run it as the new master's standby.",
    );
  });
});

describe('the standby PC\'s own status', () => {
  it('says each state in the status bar\'s words', () => {
    expect(standbyHereLine({ state: 'connecting' })).toEqual({ tone: 'busy', text: 'Standby: connecting' });
    expect(standbyHereLine({ state: 'copying', done: 400, total: 1000, percent: 40 }).text).toBe('Standby: copying 40%');
    expect(standbyHereLine({ state: 'following', seq: 90, master_seq: 90, behind: 0 })).toEqual({
      tone: 'ok',
      text: 'Standby: following, 0 changes behind',
    });
    expect(standbyHereLine({ state: 'following', seq: 89, master_seq: 90, behind: 1 })).toEqual({
      tone: 'busy',
      text: 'Standby: following, 1 change behind',
    });
    const refused = standbyHereLine({ state: 'refused', message: "this PC is not the office's standby" });
    expect(refused).toEqual({ tone: 'bad', text: "Standby: refused — this PC is not the office's standby" });
    expect(standbyHereLine({ state: 'stopped', message: 'the disk is full' }).text).toBe('Standby: stopped — the disk is full');
  });
});

describe('how writes are answered', () => {
  it('is quiet when the master answers as chosen', () => {
    expect(writesLine('at_commit').tone).toBe('none');
    expect(writesLine('on_both')).toEqual({ tone: 'ok', text: expect.stringMatching(/standby has them too/) });
  });

  it('turns red whenever writes are kept on one PC only, or refused, though two were chosen', () => {
    expect(writesLine('alone_standby_away')).toEqual({ tone: 'away', text: expect.stringMatching(/standby is away.*this PC alone/) });
    expect(writesLine('refused_standby_away')).toEqual({ tone: 'away', text: expect.stringMatching(/refused until it is back/) });
    expect(writesLine('alone_no_standby')).toEqual({ tone: 'away', text: expect.stringMatching(/no standby/) });
  });
});
