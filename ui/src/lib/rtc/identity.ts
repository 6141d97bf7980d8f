// A browser slave's identity: one RTCCertificate, made once and kept in
// IndexedDB (the browser keeps its private key unreadable, even to this
// page). Its SHA-256 fingerprint is the device id the master approves,
// lists and may revoke, like a desktop PC's.
//
// Browsers cap a certificate's life at 365 days (Chromium and Firefox both;
// Firefox gives 30 unless asked, hence LIFETIME_MS). When it runs out a new
// one is made, which is a new device: it pairs again with a code. Both
// store the RTCCertificate in IndexedDB whole (its key still unreadable).

import { normalizeFingerprint } from './pairing';

const DB_NAME = 'outpost';
const STORE = 'identity';
const KEY = 'certificate';
/** Asked for at creation; browsers may give less. */
const LIFETIME_MS = 365 * 24 * 3600 * 1000;
/** A certificate this close to its end is replaced before it fails mid-call. */
const RENEW_BEFORE_MS = 24 * 3600 * 1000;

export interface BrowserIdentity {
  certificate: RTCCertificate;
  /** 64 lower-case hex digits: the device id. */
  fingerprint: string;
  /** When the certificate stops working (ms since 1970). */
  expires: number;
  /** Made just now (the device is new to every master). */
  fresh: boolean;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

function openDb(): Promise<IDBDatabase> {
  const r = indexedDB.open(DB_NAME, 1);
  r.onupgradeneeded = () => {
    if (!r.result.objectStoreNames.contains(STORE)) r.result.createObjectStore(STORE);
  };
  return request(r);
}

/** The certificate's SHA-256 fingerprint, normalised. */
export function certificateFingerprint(cert: RTCCertificate): string {
  for (const f of cert.getFingerprints()) {
    if (f.algorithm?.toLowerCase() === 'sha-256' && f.value) {
      const fp = normalizeFingerprint(f.value);
      if (fp) return fp;
    }
  }
  throw new Error('this browser gave its WebRTC certificate no SHA-256 fingerprint');
}

/** This browser's identity: the kept certificate, or a new one. */
export async function loadIdentity(now: () => number = Date.now): Promise<BrowserIdentity> {
  if (typeof RTCPeerConnection === 'undefined') {
    throw new Error('this browser has no WebRTC (RTCPeerConnection); use a current Chrome, Edge, Firefox or Safari');
  }
  if (typeof indexedDB === 'undefined') {
    throw new Error('this browser keeps no IndexedDB (a private window?); Outpost needs it to remember this device');
  }
  const db = await openDb();
  try {
    const kept = await request(db.transaction(STORE).objectStore(STORE).get(KEY));
    if (kept instanceof RTCCertificate && kept.expires - now() > RENEW_BEFORE_MS) {
      return {
        certificate: kept,
        fingerprint: certificateFingerprint(kept),
        expires: kept.expires,
        fresh: false,
      };
    }
    const certificate = await RTCPeerConnection.generateCertificate({
      name: 'ECDSA',
      namedCurve: 'P-256',
      expires: LIFETIME_MS,
    } as AlgorithmIdentifier);
    const tx = db.transaction(STORE, 'readwrite');
    await request(tx.objectStore(STORE).put(certificate, KEY));
    return {
      certificate,
      fingerprint: certificateFingerprint(certificate),
      expires: certificate.expires,
      fresh: true,
    };
  } finally {
    db.close();
  }
}
