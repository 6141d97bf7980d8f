// Keeps an open form current with what other PCs do to its record. With
// no unsaved edits a newer revision is simply shown; with some, it is only
// announced (`newer`), so the person chooses between theirs and ours. An
// event that comes in during a save waits until the save is done, and a
// lagged event stream or a reconnect makes the form ask the master again.

import { untrack } from 'svelte';
import { app } from '../../lib/app.svelte';
import { ApiError, subscription, type ChangedEvent, type DbRecord } from '../../lib/api';

/** A revision on the master that the form has not taken in. */
export type Newer = { rev: number; device: string; op: string };

/** The form, as the watch sees it. */
export interface Watched {
  readonly doctype: string;
  /** The record as last loaded or saved; null for a new one. */
  readonly record: DbRecord | null;
  /** Unsaved edits: then a newer revision is announced, not shown. */
  readonly dirty: boolean;
  readonly saving: boolean;
  /** Shows a record as saved on the master (no unsaved edits left). */
  show(r: DbRecord): void;
  /** A short note that goes away by itself. */
  flash(text: string): void;
}

export class RemoteWatch {
  /** What another PC did that the form has not taken in (shown as a banner). */
  newer = $state<Newer | null>(null);
  private pending: ChangedEvent | null = null;

  /** Call while the form's component is being set up: it adds effects. */
  constructor(private form: Watched) {
    // Reload from the master after a lagged event stream or a reconnect.
    let lastEpoch = untrack(() => app.epoch);
    $effect(() => {
      const ep = app.epoch;
      if (ep === lastEpoch) return;
      lastEpoch = ep;
      untrack(() => {
        if (form.record && !form.saving) void this.recheck();
      });
    });

    $effect(() =>
      subscription(
        app.api.onDbEvent((e) => {
          if (e.ev === 'lagged') {
            if (form.record && !form.saving) void this.recheck();
            return;
          }
          if (e.doctype !== form.doctype || !form.record || e.name !== form.record.name) return;
          if (form.saving) {
            this.pending = e;
            return;
          }
          this.onRemote(e);
        }),
      ),
    );
  }

  /** After a save: handles what another PC did meanwhile. */
  settle() {
    const ev = this.pending;
    this.pending = null;
    if (ev) this.onRemote(ev);
  }

  private async recheck() {
    const { doctype, record } = this.form;
    if (!record) return;
    try {
      const r = await app.api.get(doctype, record.name);
      const now = this.form.record;
      if (!now || r.name !== now.name) return;
      if (r.rev > now.rev) this.onRemote({ ev: 'changed', doctype, name: r.name, rev: r.rev, op: 'update', seq: 0, device: r.modified_by ?? '' }, r);
    } catch (e) {
      const err = ApiError.from(e);
      const now = this.form.record;
      if (err.code === 'not_found' && now) {
        this.newer = { rev: now.rev + 1, device: '', op: 'delete' };
      }
    }
  }

  private onRemote(e: ChangedEvent, fresh?: DbRecord) {
    const form = this.form;
    const record = form.record;
    if (!record || e.name !== record.name || e.rev <= record.rev) return;
    if (e.op === 'delete') {
      this.newer = { rev: e.rev, device: e.device, op: 'delete' };
      return;
    }
    if (!form.dirty) {
      if (fresh) {
        form.show(fresh);
        form.flash(`Updated from another PC (revision ${fresh.rev})`);
      } else {
        void app.api.get(form.doctype, record.name).then(
          (r) => {
            const now = form.record;
            if (now && r.name === now.name && r.rev > now.rev && !form.dirty) {
              form.show(r);
              form.flash(`Updated from another PC (revision ${r.rev})`);
            } else if (now && r.rev > now.rev) {
              this.newer = { rev: r.rev, device: r.modified_by ?? '', op: 'update' };
            }
          },
          () => {},
        );
      }
    } else {
      this.newer = { rev: e.rev, device: e.device, op: e.op };
    }
  }
}
