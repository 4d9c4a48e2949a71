import type { TransformProcess } from './process.ts';

/**
 * The processes that served before a watched edit was proven, parked while their replacements start: they
 * take no new work (no client sees the old sources again once the new ones answered), but a replacement that
 * dies before its first answer (a later, broken edit it loaded) gives its slot back to one of them. So a
 * broken edit never reduces the serving set. One is kept per replacement that has not answered yet, the
 * newest first; the rest retire.
 */
export class EditReserve {
  /** Oldest first. */
  readonly #parked: TransformProcess[] = [];
  /** The watched path whose change started the edit, for the log line. */
  path = '';

  get size(): number {
    return this.#parked.length;
  }

  has(process: TransformProcess): boolean {
    return this.#parked.includes(process);
  }

  /** Keep `process` out of the serving set, alive, until a replacement answers or fails. */
  park(process: TransformProcess): void {
    if (!this.has(process)) this.#parked.push(process);
  }

  /** It left by itself (an exit, a retirement): it can no longer stand in. */
  forget(process: TransformProcess): void {
    const index = this.#parked.indexOf(process);
    if (index !== -1) this.#parked.splice(index, 1);
  }

  /** The newest parked process, to serve again in the place of a replacement that failed. */
  takeNewest(): TransformProcess | undefined {
    return this.#parked.pop();
  }

  /** Retire the oldest parked processes until no more than `keep` are left. */
  trim(keep: number): void {
    while (this.#parked.length > Math.max(0, keep)) this.#parked.shift()?.retire('reload');
  }
}
