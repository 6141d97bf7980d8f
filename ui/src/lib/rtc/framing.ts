// Framing on the `db` data channel, as the master speaks it
// (crates/link/src/framing.rs): every message travels as one or more binary
// frames no larger than the peer's maximum message size. Each frame starts
// with one byte: 0 a whole message, 1 a chunk with more to follow, 2 the
// last chunk. The channel is reliable and ordered, and each side sends one
// message's frames back to back, so chunks need no ids.

/** Largest frame sent: 64 KiB, which every WebRTC peer accepts. */
export const MAX_FRAME = 64 * 1024;

const WHOLE = 0;
const MORE = 1;
const LAST = 2;

/** Splits `msg` into frames of at most `maxFrame` bytes (header included). */
export function split(msg: Uint8Array, maxFrame: number = MAX_FRAME): Uint8Array[] {
  const room = Math.max(maxFrame, 2) - 1;
  if (msg.length <= room) {
    const f = new Uint8Array(msg.length + 1);
    f[0] = WHOLE;
    f.set(msg, 1);
    return [f];
  }
  const frames: Uint8Array[] = [];
  for (let at = 0; at < msg.length; at += room) {
    const chunk = msg.subarray(at, Math.min(at + room, msg.length));
    const f = new Uint8Array(chunk.length + 1);
    f[0] = at + room >= msg.length ? LAST : MORE;
    f.set(chunk, 1);
    frames.push(f);
  }
  return frames;
}

/** Why a frame or message was refused. */
export class FrameError extends Error {
  constructor(
    message: string,
    readonly tooLarge = false,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Joins frames back into messages, refusing any message over `limit`. */
export class Reassembler {
  private parts: Uint8Array[] = [];
  private size = 0;
  /** Set after an oversized message: its remaining chunks are dropped. */
  private skipping = false;

  constructor(private readonly limit: number) {}

  /** Feeds one frame; returns a message when one is complete. */
  push(frame: Uint8Array): Uint8Array | null {
    if (frame.length === 0) throw new FrameError('an empty frame');
    const kind = frame[0];
    const body = frame.subarray(1);
    if (kind === WHOLE) {
      if (this.size > 0 || this.skipping) {
        this.reset();
        throw new FrameError('a new message started before the previous one ended');
      }
      if (body.length > this.limit) throw this.tooLarge(body.length);
      return body.slice();
    }
    if (kind !== MORE && kind !== LAST) throw new FrameError(`unknown frame kind ${kind}`);
    if (!this.skipping) {
      if (this.size + body.length > this.limit) {
        const size = this.size + body.length;
        this.reset();
        this.skipping = kind === MORE;
        throw this.tooLarge(size);
      }
      this.parts.push(body.slice());
      this.size += body.length;
    }
    if (kind === LAST) {
      const skipped = this.skipping;
      const msg = this.join();
      this.reset();
      return skipped ? null : msg;
    }
    return null;
  }

  private join(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  private reset() {
    this.parts = [];
    this.size = 0;
    this.skipping = false;
  }

  private tooLarge(size: number): FrameError {
    return new FrameError(`a message of ${size} bytes is over the ${this.limit}-byte limit`, true);
  }
}
