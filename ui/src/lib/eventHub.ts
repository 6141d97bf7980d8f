// Events from the backend: one transport listener per event name, shared by
// every subscriber in the UI.

import { ApiError } from './apiError';
import type { Transport } from './api';

type Listener = (payload: any) => void;

/** One transport listener for one event, shared by its subscribers. */
interface Channel {
  subs: Set<Listener>;
  ready: Promise<void>;
  un: (() => void) | null;
  closed: boolean;
}

/** One transport listener per event, shared by every subscriber. */
export class EventHub {
  private channels = new Map<string, Channel>();

  constructor(private transport: Transport) {}

  private open(event: string): Channel {
    const ch: Channel = { subs: new Set(), ready: Promise.resolve(), un: null, closed: false };
    ch.ready = this.transport
      .listen(event, (payload) => {
        if (!ch.closed) this.dispatch(event, ch, payload);
      })
      .then((un) => {
        ch.un = un;
        // The last subscriber left before the listener was ready.
        if (ch.closed) un();
      });
    ch.ready.catch(() => {
      ch.closed = true;
      if (this.channels.get(event) === ch) this.channels.delete(event);
    });
    this.channels.set(event, ch);
    return ch;
  }

  subscribe(event: string, cb: Listener): Promise<() => void> {
    const ch = this.channels.get(event) ?? this.open(event);
    // A wrapper, so one callback subscribed twice is two subscriptions.
    const entry: Listener = (p) => cb(p);
    ch.subs.add(entry);
    const off = () => {
      if (!ch.subs.delete(entry) || ch.subs.size > 0 || ch.closed) return;
      ch.closed = true;
      if (this.channels.get(event) === ch) this.channels.delete(event);
      ch.un?.();
    };
    return ch.ready.then(
      () => off,
      (e) => {
        ch.subs.delete(entry);
        throw ApiError.from(e);
      },
    );
  }

  private dispatch(event: string, ch: Channel, payload: unknown) {
    for (const cb of [...ch.subs]) {
      try {
        cb(payload);
      } catch (e) {
        console.error(`outpost: a ${event} handler failed`, e);
      }
    }
  }

  /** Number of transport listeners held open (for tests). */
  get listening(): number {
    return this.channels.size;
  }
}
