import { describe, expect, it } from 'vitest';
import { readPhoneInvite } from './pairing';

const FP = 'ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12';

describe('the phone QR code', () => {
  it('gives the code and fingerprint in its fragment', () => {
    expect(readPhoneInvite(`#pair=ABCD-2345&fp=${FP}`)).toEqual({ code: 'ABCD-2345', fp: FP });
    expect(readPhoneInvite(`#pair=abcd2345&fp=${FP.toUpperCase()}`)).toEqual({ code: 'abcd2345', fp: FP });
  });

  it('is no invite without both, or with a fingerprint that is not one', () => {
    expect(readPhoneInvite('')).toBeNull();
    expect(readPhoneInvite('#records')).toBeNull();
    expect(readPhoneInvite(`#fp=${FP}`)).toBeNull();
    expect(readPhoneInvite('#pair=ABCD-2345')).toBeNull();
    expect(readPhoneInvite('#pair=ABCD-2345&fp=abc')).toBeNull();
    expect(readPhoneInvite(`#pair=ABCD-2345&fp=${FP}00`)).toBeNull();
  });
});
