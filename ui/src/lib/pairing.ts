// Pairing URLs as the master prints them:
// outpost://HOST:PORT/?name=NAME&fp=SHA256HEX&code=PAIRING_CODE

export interface PairingUrl {
  host: string;
  port: string;
  name: string | null;
  fp: string | null;
  code: string | null;
}

/** Reads a pairing URL; null when the text is not one (a master's name, say). */
export function parsePairingUrl(text: string): PairingUrl | null {
  const t = text.trim();
  const m = /^outpost:\/\/([^/?#]*)\/?(?:\?([^#]*))?/i.exec(t);
  if (!m) return null;
  const authority = m[1];
  let host = authority;
  let port = '';
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(authority);
  if (v6) {
    host = v6[1];
    port = v6[2] ?? '';
  } else {
    const i = authority.lastIndexOf(':');
    if (i >= 0) {
      host = authority.slice(0, i);
      port = authority.slice(i + 1);
    }
  }
  const params = new URLSearchParams(m[2] ?? '');
  const get = (k: string) => {
    const v = params.get(k);
    return v === null || v === '' ? null : v;
  };
  return { host, port, name: get('name'), fp: get('fp'), code: get('code') };
}

/** What a phone's camera opens from the master's second QR code:
 * `http://MASTER:PORT/#pair=CODE&fp=SHA256HEX`. The fragment never leaves
 * the phone (it is not part of the HTTP request). */
export interface PhoneInvite {
  code: string;
  fp: string;
}

/** Reads the invite from a location's hash; null when it holds none. */
export function readPhoneInvite(hash: string): PhoneInvite | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const code = params.get('pair')?.trim();
  const fp = params.get('fp')?.trim().toLowerCase();
  if (!code || !fp || !/^[0-9a-f]{64}$/.test(fp)) return null;
  return { code, fp };
}

/** Whether the text is a pairing URL that carries its code. */
export function urlHasCode(text: string): boolean {
  return parsePairingUrl(text)?.code != null;
}

/** `025e-e435-63c6-325e`: the first 16 hex digits in groups of 4, as the app writes a fingerprint's short form. */
export function shortFingerprint(fp: string | null | undefined): string {
  if (!fp) return '';
  const hex = fp.replace(/[^0-9a-f]/gi, '').toLowerCase();
  if (hex.length < 16) return fp;
  return hex.slice(0, 16).match(/..../g)!.join('-');
}
