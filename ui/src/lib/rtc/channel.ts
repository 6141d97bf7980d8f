// One WebRTC connection from this page to the master: the signaling
// socket, hello (with a code proof on first contact), the master's offer
// pinned to the expected fingerprint, the answer from this browser's kept
// certificate, trickled candidates, and the `db` channel the master opens.

import { shortFingerprint } from '../pairing';
import type { BrowserIdentity } from './identity';
import { codeKeys, masterProofProblem, sdpFingerprintMismatch } from './pairing';

/** The code of a refusal by this page: another master than the pinned one answered. */
export const MASTER_CHANGED = 'master_changed';
/** The code of a refusal by this page: the master did not prove it knows the pairing code. */
export const NOT_THE_OFFICE = 'not_the_office';
/** Frames the master accepts at most (its SCTP max message size). */
const MASTER_MAX_FRAME = 262_144;
const HANDSHAKE_MS = 15_000;
const SOCKET_OPEN_MS = 5_000;
/** How long the page leaves the signaling socket for the master to close
 * once the channel is open. */
const SOCKET_LINGER_MS = 2_000;
/** Reconnect backoff: first wait, cap. */
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15_000;

/** A refusal or failure while connecting, with the master's code. */
export class LinkFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'LinkFailure';
  }
}

export interface Open {
  pc: RTCPeerConnection;
  dc: RTCDataChannel;
  maxFrame: number;
}

/** The largest frame the offer's side accepts (`a=max-message-size`). */
export function offerMaxFrame(sdp: string): number {
  const m = /^a=max-message-size:(\d+)/m.exec(sdp);
  const n = m ? Number(m[1]) : 65_536;
  return Math.min(n === 0 ? MASTER_MAX_FRAME : n, MASTER_MAX_FRAME);
}

/**
 * The master's offer as this page applies it: `a=setup:active` in place of
 * `a=setup:actpass`, so the browser answers `a=setup:passive` and is the
 * DTLS server, the master the client (as with a desktop slave).
 *
 * Left to choose, a browser answers `active` and is the client. Chromium
 * then sends its ClientHello as soon as its own ICE check succeeds, ~10 ms
 * before the master (ICE controlling) has nominated a pair; the master
 * (webrtc-rs) drops every non-STUN packet until it has one, and Chromium
 * sends the ClientHello again only when its 50 ms DTLS timer fires: a
 * paired reconnect spent ~60 ms there (BENCHMARKS.md). As the client, the
 * master sends its ClientHello once its pair is selected, to a browser
 * listening since its own check succeeded (Chromium keeps a ClientHello
 * that comes early). Only the copy given to this browser changes; the
 * fingerprint was checked on the master's own.
 *
 * Firefox keeps its choice: it sends its ClientHello only once the master
 * has nominated the pair, so nothing is lost, and as the server it was
 * measured slower (issue 16, tests/browser/connect-bench.mjs).
 */
export function asDtlsServer(offer: string, ua: string = typeof navigator === 'undefined' ? '' : navigator.userAgent): string {
  if (/Firefox\//.test(ua)) return offer;
  return offer.replace(/^a=setup:actpass(?=\r?$)/gm, 'a=setup:active');
}

/** Wait before reconnect attempt `n` (0-based): doubling, capped, with jitter. */
export function backoff(n: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(n, 10));
  return Math.round(base * (0.75 + random() * 0.5));
}

/** Words for a connection attempt that failed without the master saying why. */
function unreachable(host: string, why: string): LinkFailure {
  return new LinkFailure('unavailable', `cannot reach the master at ${host}: ${why}`);
}

/**
 * Brings up the `db` channel: one attempt, hello to open channel. Rejects
 * with a LinkFailure carrying the master's refusal when there is one.
 */
export async function openChannel(opts: {
  signalUrl: string;
  host: string;
  identity: BrowserIdentity;
  master: string;
  deviceName: string;
  code?: string;
  /** With a code: whether the master must prove it too (false when this
   * page is already paired with `master`, which lets an approved device in
   * without the code). Default true. */
  mustProve?: boolean;
}): Promise<Open> {
  const { identity, master } = opts;
  // The slow derivation comes before the socket opens: the master gives a
  // new socket only a short while to say hello.
  const keys = opts.code ? await codeKeys(opts.code, identity.fingerprint, master) : undefined;
  const ws = new WebSocket(opts.signalUrl);
  let pc: RTCPeerConnection | null = null;
  const inbox: any[] = [];
  let wake: (() => void) | null = null;
  let ended: LinkFailure | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  ws.onmessage = (e) => {
    if (typeof e.data !== 'string') return;
    try {
      inbox.push(JSON.parse(e.data));
    } catch {
      ended = new LinkFailure('bad_request', 'the master sent a signaling message that is not JSON');
    }
    poke();
  };
  ws.onclose = () => {
    ended ??= new LinkFailure('closed', 'the master closed the signaling socket');
    poke();
  };
  let dc: RTCDataChannel | null = null;
  let dcOpen = false;
  let failed: string | null = null;
  const deadline = Date.now() + HANDSHAKE_MS;

  // Waits for the open channel, a message, a failure, or the deadline.
  const until = async (what: string) => {
    while (true) {
      if (failed) throw unreachable(opts.host, failed);
      if (dcOpen || inbox.length > 0) return;
      if (ended && ended.code !== 'closed') throw ended;
      if (ended && !pc) throw unreachable(opts.host, `the signaling socket closed while ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw unreachable(opts.host, `no answer within ${HANDSHAKE_MS / 1000} s while ${what}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, Math.min(left, 250));
      });
    }
  };

  try {
    // Open the socket.
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(unreachable(opts.host, 'the signaling socket did not open')), SOCKET_OPEN_MS);
      ws.onopen = () => {
        clearTimeout(t);
        resolve();
      };
      ws.onerror = () => {
        clearTimeout(t);
        reject(unreachable(opts.host, 'the signaling socket could not be opened (is the master running?)'));
      };
    });
    ws.onerror = () => poke();
    const hello: Record<string, unknown> = { t: 'hello', v: 1, device: identity.fingerprint, name: opts.deviceName };
    if (keys) hello.proof = keys.proof;
    ws.send(JSON.stringify(hello));

    // The offer, or a refusal.
    await until('waiting for the master’s offer');
    const first = inbox.shift();
    if (first?.t === 'refused') throw new LinkFailure(String(first.code), String(first.message));
    if (first?.t !== 'offer' || typeof first.sdp !== 'string') {
      throw new LinkFailure('bad_request', `expected an offer from the master, got ${first?.t ?? 'nothing'}`);
    }
    const wrong = sdpFingerprintMismatch(first.sdp, master);
    if (wrong) {
      throw new LinkFailure(
        MASTER_CHANGED,
        `the master answering at ${opts.host} is not the one this page was served by: its certificate is ${shortFingerprint(wrong)}, expected ${shortFingerprint(master)}`,
      );
    }
    if (keys && opts.mustProve !== false) {
      // Pairing: the master proves it saw the code too, before anything is kept.
      const why = masterProofProblem(keys, first.proof);
      if (why) {
        throw new LinkFailure(
          NOT_THE_OFFICE,
          `refused the PC answering at ${opts.host}: ${why}. It is not the office's master; nothing was saved. Open the page from the pairing URL or QR code shown on the master`,
        );
      }
    }
    const maxFrame = offerMaxFrame(first.sdp);
    pc = new RTCPeerConnection({ certificates: [identity.certificate], iceServers: [] });
    const conn = pc;
    conn.onicecandidate = (e) => {
      const c = e.candidate;
      if (c && c.candidate && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ t: 'candidate', candidate: c.candidate, mid: c.sdpMid ?? '0' }));
      }
    };
    conn.onconnectionstatechange = () => {
      if (conn.connectionState === 'failed') failed = 'no network path to the master (the WebRTC connection failed)';
      poke();
    };
    conn.ondatachannel = (e) => {
      if (e.channel.label !== 'db') return;
      dc = e.channel;
      dc.binaryType = 'arraybuffer';
      if (dc.readyState === 'open') dcOpen = true;
      dc.onopen = () => {
        dcOpen = true;
        poke();
      };
      poke();
    };
    await conn.setRemoteDescription({ type: 'offer', sdp: asDtlsServer(first.sdp) });
    const answer = await conn.createAnswer();
    await conn.setLocalDescription(answer);
    ws.send(JSON.stringify({ t: 'answer', sdp: conn.localDescription?.sdp ?? answer.sdp }));

    // Candidates until the channel opens.
    while (!dcOpen) {
      await until('connecting');
      while (inbox.length > 0) {
        const m = inbox.shift();
        if (m?.t === 'candidate' && typeof m.candidate === 'string') {
          await conn
            .addIceCandidate({ candidate: m.candidate, sdpMid: m.mid ?? '0', sdpMLineIndex: 0 })
            .catch(() => undefined);
        } else if (m?.t === 'refused') {
          throw new LinkFailure(String(m.code), String(m.message));
        } else {
          throw new LinkFailure('bad_request', `unexpected ${m?.t ?? 'message'} from the master`);
        }
      }
    }
    // The master closes the signaling socket now that its side is up. The
    // page leaves that to it: Firefox counts a socket the page closes at
    // this moment as failed and holds the page's next socket to this master
    // back by 200 ms or more (BENCHMARKS.md, issue 16). A master that
    // keeps it open is closed on after SOCKET_LINGER_MS.
    ws.onclose = null;
    ws.onmessage = null;
    setTimeout(() => ws.close(), SOCKET_LINGER_MS);
    const sendLimit = conn.sctp?.maxMessageSize || 65_536;
    return { pc: conn, dc: dc!, maxFrame: Math.min(maxFrame, sendLimit) };
  } catch (e) {
    ws.onclose = null;
    ws.close();
    pc?.close();
    throw e;
  }
}
