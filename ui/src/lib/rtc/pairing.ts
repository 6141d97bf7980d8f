// Pairing and pinning for a browser slave, as the master checks them
// (crates/link/src/pairing.rs and identity.rs): the code proof sent in
// `hello` instead of the code, and the certificate fingerprints both ends
// pin.

import { pbkdf2Async } from '@noble/hashes/pbkdf2.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** PBKDF2 rounds of a code proof (the master's `PROOF_ROUNDS`). */
export const PROOF_ROUNDS = 50_000;

/** A code as people may type it, as the master compares it: letters and
 * digits only, upper case, O read as 0 and I or L as 1. */
export function normalizeCode(code: string): string {
  let out = '';
  for (const c of code) {
    if (!/^[0-9a-zA-Z]$/.test(c)) continue;
    const u = c.toUpperCase();
    out += u === 'O' ? '0' : u === 'I' || u === 'L' ? '1' : u;
  }
  return out;
}

/** A SHA-256 fingerprint as 64 lower-case hex digits (colons dropped), or
 * null when it is not one. */
export function normalizeFingerprint(s: string): string | null {
  const hex = s.trim().replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

/** Every `a=fingerprint:sha-256` value in an SDP, normalised. */
export function sdpFingerprints(sdp: string): string[] {
  const out: string[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    const v = line.trim();
    if (!v.startsWith('a=fingerprint:')) continue;
    const [alg, val] = v.slice('a=fingerprint:'.length).split(' ', 2);
    if (alg.toLowerCase() !== 'sha-256' || val === undefined) continue;
    const fp = normalizeFingerprint(val);
    if (fp) out.push(fp);
  }
  return out;
}

/** Null when every SHA-256 fingerprint of `sdp` is `expected` (and there is
 * one); else the fingerprint found instead ("none" without any). Checked
 * before the description is applied, so an impostor gets nothing. */
export function sdpFingerprintMismatch(sdp: string, expected: string): string | null {
  const want = normalizeFingerprint(expected) ?? expected;
  const fps = sdpFingerprints(sdp);
  if (fps.length === 0) return 'none';
  return fps.find((f) => f !== want) ?? null;
}

/** What a slave sends instead of the pairing code: PBKDF2-HMAC-SHA256 of
 * the code, salted with both fingerprints, as hex. Computed in script
 * (@noble/hashes), not WebCrypto: a page opened at the master's plain
 * `http://` LAN address is not a secure context, and browsers give such a
 * page no `crypto.subtle`. */
export async function codeProof(code: string, slaveFp: string, masterFp: string): Promise<string> {
  const enc = new TextEncoder();
  const bits = await pbkdf2Async(sha256, enc.encode(normalizeCode(code)), enc.encode(`outpost-pairing-v1:${slaveFp}:${masterFp}`), {
    c: PROOF_ROUNDS,
    dkLen: 32,
  });
  return [...bits].map((b) => b.toString(16).padStart(2, '0')).join('');
}
