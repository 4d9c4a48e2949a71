import { BodyChannel, createResponse, hasBody } from './body.ts';
import { type ParserOptions, ResponseParser } from './parser.ts';

interface Parsed {
  response: Response;
  body: BodyChannel | undefined;
}

/**
 * Parse a stream of HTTP/1.1 responses, one after another, into Responses in order. Bodies stream with
 * backpressure: the source is read only as fast as the current body is. Asking for the next response
 * discards what is left of the previous body (its stream errors if read later). An error found before a
 * message's Response was taken withholds it; one found later errors its body; either way the iteration then
 * throws it, and nothing after a rejected message is ever yielded.
 *
 * @param readable HTTP/1.1 response bytes, such as a transform's stdout.
 * @param options Limits on heads and bodies.
 * @returns The responses, in order.
 * @example
 * ```ts
 * import { parseResponses, serializeResponse } from 'subprocess-transform/wire';
 * for await (const response of parseResponses(serializeResponse(new Response('hi')))) {
 *   console.log(response.status, await response.text()); // 200 'hi'
 * }
 * ```
 */
export async function* parseResponses(
  readable: ReadableStream<Uint8Array>,
  options?: ParserOptions,
): AsyncGenerator<Response, void, undefined> {
  const reader = readable.getReader();
  const ready: Parsed[] = [];
  let current: Parsed | undefined;
  let failure: { error: unknown } | undefined;
  let ended = false;
  let stopped = false;
  let wakePump: (() => void) | undefined;
  let wakeConsumer: (() => void) | undefined;
  const resumePump = (): void => {
    wakePump?.();
    wakePump = undefined;
  };
  const source = { resume: resumePump, cancel: resumePump };

  const parser = new ResponseParser(
    {
      onHead(head) {
        const body = hasBody(head) ? new BodyChannel(source) : undefined;
        current = { response: createResponse(head, body?.stream ?? null), body };
        ready.push(current);
      },
      onBody(chunk) {
        current?.body?.push(chunk);
      },
      onMessageEnd() {
        current?.body?.close();
        current = undefined;
      },
    },
    options,
  );

  // Pause while the body being filled has no room, or while a complete response waits to be taken.
  const mustWait = (): boolean =>
    !stopped && (current?.body !== undefined ? !current.body.wantsMore : ready.length > 0);

  const pump = async (): Promise<void> => {
    try {
      while (!stopped) {
        while (mustWait())
          await new Promise<void>((resolve) => {
            wakePump = resolve;
          });
        if (stopped) break;
        const { done, value } = await reader.read();
        if (done) {
          parser.end();
          break;
        }
        parser.push(value);
        wakeConsumer?.();
      }
    } catch (error) {
      failure = { error };
      // The message being parsed is incomplete: withhold it if it was not taken yet, else fail its body.
      if (current !== undefined && ready.at(-1) === current) ready.pop();
      current?.body?.error(error);
    }
    ended = true;
    wakeConsumer?.();
  };

  const pumping = pump();
  try {
    for (;;) {
      while (ready.length === 0 && !ended)
        await new Promise<void>((resolve) => {
          wakeConsumer = resolve;
        });
      const next = ready.shift();
      if (next === undefined) {
        if (failure !== undefined) throw failure.error;
        return;
      }
      resumePump();
      yield next.response;
      next.body?.discard(new TypeError('Body discarded: the next response was requested before it was read'));
      resumePump();
    }
  } finally {
    stopped = true;
    resumePump();
    await reader.cancel().catch(() => {});
    await pumping;
  }
}
