import { describe, expect, it } from 'vitest';
import { FrameError, MAX_FRAME, Reassembler, split } from './framing';
import { codeKeys, codeProof, constantTimeEqual, masterProofProblem, normalizeCode, normalizeFingerprint, sdpFingerprintMismatch } from './pairing';

const bytes = (n: number, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * seed) & 0xff);

describe('framing (as crates/link/src/framing.rs)', () => {
  it('sends a small message whole and a large one in chunks that join back', () => {
    const small = split(bytes(10));
    expect(small).toHaveLength(1);
    expect(small[0][0]).toBe(0);
    const big = bytes(3 * MAX_FRAME + 5);
    const frames = split(big);
    expect(frames).toHaveLength(4);
    expect(frames.map((f) => f[0])).toEqual([1, 1, 1, 2]);
    expect(frames.every((f) => f.length <= MAX_FRAME)).toBe(true);
    const r = new Reassembler(1 << 22);
    const out = frames.map((f) => r.push(f));
    expect(out.slice(0, 3)).toEqual([null, null, null]);
    expect(out[3]).toEqual(big);
  });

  it('matches the Rust frames byte for byte (same vector as framing.rs)', () => {
    // split(b"hello world", 5) in Rust: [1,h,e,l,l] [1,o, ,w,o] [2,r,l,d]
    const frames = split(new TextEncoder().encode('hello world'), 5).map((f) => [...f]);
    expect(frames).toEqual([
      [1, 104, 101, 108, 108],
      [1, 111, 32, 119, 111],
      [2, 114, 108, 100],
    ]);
  });

  it('refuses oversized, unknown and interleaved frames, then goes on', () => {
    const r = new Reassembler(8);
    expect(() => r.push(split(bytes(9), 64)[0])).toThrowError(FrameError);
    const chunks = split(bytes(20), 5);
    expect(() => chunks.forEach((f) => r.push(f))).toThrowError(/over the 8-byte limit/);
    // The rest of the oversized message is dropped, then all is well.
    const r2 = new Reassembler(8);
    let caught = 0;
    for (const f of chunks) {
      try {
        expect(r2.push(f)).toBeNull();
      } catch {
        caught++;
      }
    }
    expect(caught).toBe(1);
    expect(r2.push(split(bytes(3))[0])).toEqual(bytes(3));
    expect(() => r2.push(new Uint8Array([9, 1]))).toThrowError(/unknown frame kind 9/);
    expect(() => r2.push(new Uint8Array())).toThrowError(/empty frame/);
    r2.push(split(bytes(6), 4)[0]);
    expect(() => r2.push(split(bytes(2))[0])).toThrowError(/before the previous one ended/);
  });
});

describe('pairing (as crates/link/src/pairing.rs)', () => {
  it('reads codes the way the master does', () => {
    expect(normalizeCode('k0lo-1ixz')).toBe('K01011XZ');
    expect(normalizeCode(' abcd efgh ')).toBe('ABCDEFGH');
    expect(normalizeCode('o0-il1-u')).toBe('00111V');
  });

  it('makes the same code proof as the master (vector pinned in code.rs too)', async () => {
    const proof = await codeProof('k0lo-1ixz', 'a'.repeat(64), '0123456789abcdef'.repeat(4));
    expect(proof).toBe('df54f2d379bcc42b8a2fdb95bffc291595ee9c420fa620cba1a294adc8a0b2ad');
  });

  it('expects the same master proof as the Rust slave (vector pinned in code.rs too)', async () => {
    const keys = await codeKeys('k0lo-1ixz', 'a'.repeat(64), '0123456789abcdef'.repeat(4));
    expect(keys.proof).toBe('df54f2d379bcc42b8a2fdb95bffc291595ee9c420fa620cba1a294adc8a0b2ad');
    expect(keys.masterProof).toBe('df28f5e021b6822e3f13880a002a3e933de08696d6cc2f46e6f5606dab2f4798');
    expect(masterProofProblem(keys, keys.masterProof)).toBeNull();
    // A rogue without the code: no proof, an echo of ours, another code's.
    expect(masterProofProblem(keys, undefined)).toMatch(/did not prove/);
    expect(masterProofProblem(keys, keys.proof)).toMatch(/proof of the pairing code is wrong/);
    const other = await codeKeys('k0lo-1ixy', 'a'.repeat(64), '0123456789abcdef'.repeat(4));
    expect(masterProofProblem(keys, other.masterProof)).toMatch(/wrong/);
  });

  it('compares secrets exactly', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'ab')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });

  it('pins the master by the fingerprints in its offer', () => {
    const fp = 'AB:'.repeat(31) + 'AB';
    const sdp = `v=0\r\na=fingerprint:sha-256 ${fp}\r\nm=application 9\r\na=fingerprint:sha-256 ${fp}\r\n`;
    expect(normalizeFingerprint(fp)).toBe('ab'.repeat(32));
    expect(sdpFingerprintMismatch(sdp, 'ab'.repeat(32))).toBeNull();
    expect(sdpFingerprintMismatch(sdp, 'cd'.repeat(32))).toBe('ab'.repeat(32));
    expect(sdpFingerprintMismatch('v=0\r\n', 'ab'.repeat(32))).toBe('none');
    expect(normalizeFingerprint('zz')).toBeNull();
  });
});
