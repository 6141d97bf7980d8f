// What this browser keeps about its master and says about itself: the
// pairing (per master address, in localStorage), the tab's sign-in (in
// sessionStorage), the device name the master lists, and the words of a
// tab whose session another tab took over.

/** What `/outpost.json` says about the master that served the page. */
export interface ServedBy {
  office: string;
  fingerprint: string;
  signal: string;
}

/** A pairing remembered by this browser (per master address: localStorage is per origin). */
export interface KeptPairing {
  fingerprint: string;
  office: string;
  /** The name the master lists this device under. */
  device_name: string;
  paired_at: string;
  /** The office's roster (its master and standby), learned from the
   * master's `hello` over the encrypted channel: after a failover the
   * promoted standby, answering at this address, is accepted. */
  roster?: string[];
  /** The office's epoch (raised by each promotion). */
  epoch?: number;
}

/** Every fingerprint a kept pairing accepts as its master. */
export function accepted(kept: KeptPairing): string[] {
  const all = [kept.fingerprint];
  for (const f of kept.roster ?? []) if (!all.includes(f)) all.push(f);
  return all;
}

/** Where the pairing is kept (localStorage). */
export const PAIRING_KEY = 'outpost.pairing';
/** The sign-in of this tab (sessionStorage: a reload resumes it, a new
 * tab or a closed browser signs in again). */
export const SIGN_IN_KEY = 'outpost.sign_in';

/** A name for this device the master lists until someone renames it. */
export function defaultDeviceName(ua: string = typeof navigator === 'undefined' ? '' : navigator.userAgent): string {
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrome\/|Chromium\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser';
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Windows/.test(ua)
        ? 'Windows'
        : /Mac OS X/.test(ua)
          ? 'Mac'
          : /Linux/.test(ua)
            ? 'Linux'
            : '';
  return os ? `${browser} on ${os}` : browser;
}

/** What a tab whose channel another tab took over says. */
export const REPLACED =
  'this browser connected to the master again from another tab or window, which now holds its session; this tab stopped';
