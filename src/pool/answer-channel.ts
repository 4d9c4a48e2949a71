// The body of one answer on its way to its client, and the slow-client bound: `clientBuffer` bytes are kept
// for the client before the process's output pauses, and `clientTimeout` bounds how long a client that reads
// nothing may keep it paused. exchange.ts owns one per answer head; the codec's BodyChannel is wire/body.ts.
import { StallTimer } from '../shared/slow-client.ts';
import { BodyChannel, createResponse, hasBody } from '../wire/body.ts';
import type { ResponseHead } from '../wire/parser.ts';
import { concatBytes } from '../wire/serialize.ts';

/** What the output does after an event: flows on, pauses for the reader, or no longer waits on it at all. */
export type OutputStep = 'flow' | 'hold' | 'release';

/**
 * The slow-client rule, pure: a process that has its whole answer out waits on no client (the rest is read
 * from the buffer); otherwise its output pauses once the reader's buffer is full, and flows while it has room.
 */
export function decideOutput(readerHasRoom: boolean, answered: boolean): OutputStep {
  if (answered) return 'release';
  return readerHasRoom ? 'flow' : 'hold';
}

/** How a head's body is handed out: none, the bytes as they came (the answer came whole), or a stream. */
export function chooseBodyForm(withBody: boolean, answered: boolean): 'none' | 'bytes' | 'stream' {
  if (!withBody) return 'none';
  return answered ? 'bytes' : 'stream';
}

/** What a channel asks of its exchange: the only calls from channel to exchange. */
export interface AnswerChannelOwner {
  /** Bytes kept for the client before the output pauses (`clientBuffer`). */
  readonly clientBuffer: number;
  /** ms the client may read nothing while the output waits on it (`clientTimeout`). */
  readonly clientTimeout: number;
  /** The output waits on the reader from now: the transform's silence does not count meanwhile. */
  hold(): void;
  /** Pause the process's output (a body handed out already full). */
  pauseOutput(): void;
  /** The reader wants more (on each of its reads): the output may flow. */
  resume(): void;
  /** The reader cancelled the body. */
  cancel(): void;
  /** The reader took nothing for `clientTimeout` while the output waited on it. */
  stall(): void;
}

/**
 * gathering -> flowing | held | released (open: the head is handed out); flowing | released -> held (push:
 * no room; after the whole answer only in the read that ended it);
 * held -> flowing (resume: the reader read); flowing | held -> released (the process has its whole answer);
 * any -> ended (closed, failed or stopped). The stall clock runs in `held` only.
 */
type ChannelState =
  /** The head is parsed, not handed out: the body bytes that came in the same read wait with it. */
  | { kind: 'gathering'; head: ResponseHead; early: Uint8Array[] }
  | { kind: 'flowing'; body: BodyChannel | undefined }
  | { kind: 'held'; body: BodyChannel }
  | { kind: 'released'; body: BodyChannel | undefined }
  | { kind: 'ended' };

/** The answer's body toward its client, with the process's output paused and resumed for the reader. */
export class AnswerChannel {
  readonly #owner: AnswerChannelOwner;
  readonly #stall: StallTimer;
  #state: ChannelState;

  constructor(head: ResponseHead, owner: AnswerChannelOwner) {
    this.#owner = owner;
    // Armed only while held, and disarmed on every way out of it.
    this.#stall = new StallTimer(owner.clientTimeout, () => this.#owner.stall());
    this.#state = { kind: 'gathering', head, early: [] };
  }

  /** Where it is in its lifecycle (for the exchange's checks and the tests). */
  get kind(): ChannelState['kind'] {
    return this.#state.kind;
  }

  /** A body chunk; false when the reader has no room, and the process is to pause its output. */
  push(chunk: Uint8Array): boolean {
    const state = this.#state;
    switch (state.kind) {
      case 'gathering':
        // Not handed out yet: kept until the end of the read that brought it, which bounds them.
        state.early.push(chunk);
        return true;
      case 'flowing':
      case 'held':
      case 'released': {
        const body = state.body;
        if (body === undefined || body.push(chunk)) return true;
        this.#hold(body);
        return false;
      }
      case 'ended':
        return true;
    }
  }

  /** gathering -> the Response for the head, with the bytes that came with it; undefined if handed out. */
  open(answered: boolean): Response | undefined {
    const state = this.#state;
    if (state.kind !== 'gathering') return undefined;
    const { head, early } = state;
    const form = chooseBodyForm(hasBody(head), answered);
    if (form !== 'stream') {
      this.#state = answered ? { kind: 'released', body: undefined } : { kind: 'flowing', body: undefined };
      // An answer that came whole gets its bytes: no stream to build, and servers such as @hono/node-server
      // write bytes straight to the socket.
      return createResponse(head, form === 'none' ? null : concatBytes(early));
    }
    const body = new BodyChannel(
      { resume: () => this.#resume(), cancel: () => this.#owner.cancel() },
      this.#owner.clientBuffer,
    );
    this.#state = { kind: 'flowing', body };
    for (const chunk of early) body.push(chunk);
    if (decideOutput(body.wantsMore, false) === 'hold') {
      this.#hold(body);
      this.#owner.pauseOutput();
    }
    return createResponse(head, body.stream);
  }

  /** The process has its whole answer: it no longer waits on this client, who reads the rest from the buffer. */
  release(): void {
    const state = this.#state;
    if (state.kind !== 'flowing' && state.kind !== 'held') return;
    this.#stall.disarm();
    this.#state = { kind: 'released', body: state.body };
  }

  /** The answer ended cleanly: a reader gets the end after the bytes it has not read yet. */
  close(): void {
    this.#bodyOf()?.close();
    this.#end();
  }

  /** The answer failed: a reader sees `error`, never a clean end that looks complete. */
  fail(error: unknown): void {
    this.#bodyOf()?.error(error);
    this.#end();
  }

  /** The exchange moved on (done, discarding, failed): nothing more goes to the reader and the clock stops. */
  stop(): void {
    this.#end();
  }

  #hold(body: BodyChannel): void {
    if (this.#state.kind === 'held') return;
    this.#state = { kind: 'held', body };
    this.#owner.hold();
    this.#stall.arm();
  }

  /** On each read by the client: held -> flowing, and the output may go on (whatever the state, as before). */
  #resume(): void {
    const state = this.#state;
    this.#stall.disarm();
    if (state.kind === 'held') this.#state = { kind: 'flowing', body: state.body };
    this.#owner.resume();
  }

  #bodyOf(): BodyChannel | undefined {
    const state = this.#state;
    return 'body' in state ? state.body : undefined;
  }

  #end(): void {
    this.#stall.disarm();
    this.#state = { kind: 'ended' };
  }
}
