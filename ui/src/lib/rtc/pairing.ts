// Pairing and pinning for a browser slave, as the master checks them
// (crates/link/src/code.rs and identity.rs): the code proof sent in
// `hello` instead of the code, the master's proof of the code checked in
// its offer, and the certificate fingerprints both ends pin.

import { hmac } from '@noble/hashes/hmac.js';
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** PBKDF2 rounds of the code derivation (the master's `PROOF_ROUNDS`). */
export const PROOF_ROUNDS = 50_000;

/** A code as people may type it, as the master compares it: letters and
 * digits only, upper case, the look-alikes the alphabet leaves out read as
 * the symbol they look like (O as 0, I or L as 1, U as V). */
export function normalizeCode(code: string): string {
  let out = '';
  for (const c of code) {
    if (!/^[0-9a-zA-Z]$/.test(c)) continue;
    const u = c.toUpperCase();
    out += u === 'O' ? '0' : u === 'I' || u === 'L' ? '1' : u === 'U' ? 'V' : u;
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

/** Both proofs of a code for one slave and one master (see
 * crates/link/src/code.rs):
 *
 *   K            = PBKDF2-HMAC-SHA256(code, "outpost-pairing-v2:" + master, 50 000, 32 bytes)
 *   proof        = hex(HMAC-SHA256(K, "outpost-slave-proof-v2:" + slave + ":" + master))   sent in hello
 *   masterProof  = hex(HMAC-SHA256(K, "outpost-master-proof-v2:" + slave + ":" + master))  expected in the offer
 *
 * The master keeps only K (never the code) and proves with it.
 * Computed in script (@noble/hashes), not WebCrypto: a page opened at the
 * master's plain `http://` LAN address is not a secure context, and
 * browsers give such a page no `crypto.subtle`. */
export interface CodeKeys {
  proof: string;
  masterProof: string;
}

export async function codeKeys(code: string, slaveFp: string, masterFp: string): Promise<CodeKeys> {
  const enc = new TextEncoder();
  const [slave, master] = [slaveFp.toLowerCase(), masterFp.toLowerCase()];
  const k = await pbkdf2Async(sha256, enc.encode(normalizeCode(code)), enc.encode(`outpost-pairing-v2:${master}`), {
    c: PROOF_ROUNDS,
    dkLen: 32,
  });
  const proof = hmac(sha256, k, enc.encode(`outpost-slave-proof-v2:${slave}:${master}`));
  const masterProof = hmac(sha256, k, enc.encode(`outpost-master-proof-v2:${slave}:${master}`));
  return { proof: hex(proof), masterProof: hex(masterProof) };
}

/** What a slave sends instead of the pairing code. */
export async function codeProof(code: string, slaveFp: string, masterFp: string): Promise<string> {
  return (await codeKeys(code, slaveFp, masterFp)).proof;
}

/** Whether two strings are equal, in time that does not depend on where
 * they differ (the lengths are not secret). */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Null when the master's offer proves it knows the code; else why not,
 * in words (the master that answered is then not the office's). */
export function masterProofProblem(keys: CodeKeys, given: unknown): string | null {
  if (typeof given !== 'string' || given === '') {
    return 'it did not prove that it knows the pairing code (it is not an Outpost master, or one too old to prove it: update Outpost on the master)';
  }
  if (!constantTimeEqual(keys.masterProof, given)) {
    return 'its proof of the pairing code is wrong: it does not know the code';
  }
  return null;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}
