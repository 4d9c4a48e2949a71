import type { Readable } from 'node:stream';
import { BodyChannel, type BodySource, hasBody } from '../wire/body.ts';
import type { WireLimits } from '../wire/limits.ts';
import { type ResponseHead, ResponseParser } from '../wire/parser.ts';

/** One message read from the input: its head, and its body as the bytes arrive. */
export interface Message {
  head: ResponseHead;
  body: BodyChannel | undefined;
}

/**
 * Where the input stands. It flows unless the body being filled has no room; messages parsed meanwhile wait
 * in order for {@link MessageReader.next}.
 * - `flowing`: bytes are parsed as they come.
 * - `paused`: `body` (the one being filled, the last message's) has no room. Whatever ends the wait for that
 *   body resumes input: its reader reading, or the body closing, being cancelled, discarded or failed. When the
 *   message is still queued behind others, nobody reads it until the serve loop takes it, so the serve loop's
 *   {@link MessageReader.release} after the answer is what resumes input at the latest.
 * - `ended`: no more messages: the input ended, failed, or serving stopped. Final.
 */
type State =
  | { name: 'flowing' }
  | { name: 'paused'; body: BodyChannel }
  | { name: 'ended'; failure: unknown };

/** What moves the state. */
type InputEvent =
  /** A push left the body being filled with no room. */
  | { type: 'body-full'; body: BodyChannel }
  /** A body has room again, or takes no more bytes: closed, cancelled, discarded. */
  | { type: 'body-free'; body: BodyChannel }
  /** The input ended (`failure` undefined), failed, or serving stopped. */
  | { type: 'end'; failure: unknown };

/**
 * Reads HTTP/1.1 messages from a byte stream, one after another, each body streaming with backpressure:
 * input is paused only while the body being filled has no room, and resumed as soon as it has.
 */
export class MessageReader {
  readonly #input: Readable;
  readonly #parser: ResponseParser;
  /** Parsed messages waiting for {@link next}, in order: all the buffering between the two sides. */
  readonly #queue: Message[] = [];
  /** A {@link next} waiting for a message. */
  #waiting: ((message: Message | undefined) => void) | undefined;
  #state: State = { name: 'flowing' };
  /** The body the parser is filling: the last message's, until its end. */
  #filling: BodyChannel | undefined;
  /** One source for every body: a stream pulls when its reader made room; a cancelled body is drained. */
  readonly #bodySource: BodySource = {
    resume: (body) => this.#handle({ type: 'body-free', body }),
    cancel: (_reason, body) => this.#handle({ type: 'body-free', body }),
  };

  constructor(input: Readable, limits?: Partial<WireLimits>) {
    this.#input = input;
    this.#parser = new ResponseParser(
      {
        onHead: (head) => this.#onHead(head),
        onBody: (chunk) => {
          const body = this.#filling;
          if (body !== undefined && !body.push(chunk)) this.#handle({ type: 'body-full', body });
        },
        onMessageEnd: () => {
          const body = this.#filling;
          this.#filling = undefined;
          body?.close();
          if (body !== undefined) this.#handle({ type: 'body-free', body });
        },
      },
      { limits },
    );
    input.on('data', (chunk: Uint8Array) => {
      if (this.#state.name === 'ended') return;
      try {
        this.#parser.push(chunk);
      } catch (error) {
        this.#handle({ type: 'end', failure: error });
      }
    });
    input.on('end', () => {
      try {
        this.#parser.end();
        this.#handle({ type: 'end', failure: undefined });
      } catch (error) {
        this.#handle({ type: 'end', failure: error });
      }
    });
    input.on('error', (error) => this.#handle({ type: 'end', failure: error }));
  }

  /** Why reading stopped early (a parse or stream error), once ended; undefined after a clean end. */
  get failure(): unknown {
    return this.#state.name === 'ended' ? this.#state.failure : undefined;
  }

  /** The next message, in order; undefined once the input has ended and every message was taken. */
  next(): Promise<Message | undefined> {
    const message = this.#queue.shift();
    if (message !== undefined || this.#state.name === 'ended') return Promise.resolve(message);
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  #enqueue(message: Message): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) waiting(message);
    else this.#queue.push(message);
  }

  /** The message is answered: drop what is left of its body, so the next message starts at its first byte. */
  release(message: Message): void {
    const { body } = message;
    if (body === undefined || !body.open) return;
    body.discard(new TypeError('The transform answered before reading the whole body; the rest was drained'));
    this.#handle({ type: 'body-free', body });
  }

  /** Stop reading: no more messages after those queued. `failure`, if any, is reported as {@link failure}. */
  stop(failure?: unknown): void {
    this.#handle({ type: 'end', failure });
  }

  #onHead(head: ResponseHead): void {
    const body = hasBody(head) ? new BodyChannel(this.#bodySource) : undefined;
    this.#filling = body;
    this.#enqueue({ head, body });
  }

  /** The one place the state changes, and the input is paused or resumed to match. */
  #handle(event: InputEvent): void {
    const state = this.#state;
    if (state.name === 'ended') return;
    switch (event.type) {
      case 'body-full':
        if (state.name !== 'flowing') return;
        this.#state = { name: 'paused', body: event.body };
        this.#input.pause();
        return;
      case 'body-free':
        // Only the body input waits for can end the wait: another one's room changes nothing.
        if (state.name !== 'paused' || state.body !== event.body) return;
        this.#state = { name: 'flowing' };
        this.#input.resume();
        return;
      case 'end':
        this.#state = { name: 'ended', failure: event.failure };
        if (event.failure !== undefined) this.#input.pause();
        // A body cut short must fail, never end cleanly as if it were complete.
        this.#filling?.error(event.failure ?? new Error('Input ended in the middle of a message'));
        this.#filling = undefined;
        // No more messages: a next() waiting now, or after those queued, gets undefined.
        this.#waiting?.(undefined);
        this.#waiting = undefined;
    }
  }
}
