// serveTransform in this process, on in-memory streams: the exact bytes of each answer, whichever way the input
// was split, so the shortcut for a response answered as it came (body unread) says the same as the encoder.
import { PassThrough } from 'node:stream';
import { setImmediate as nextTask } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { serveTransform, type TransformFunction } from '../../src/child/index.ts';
import { parseResponses } from '../../src/wire/index.ts';

function message(id: string, body: string, headers = 'Content-Type: text/html\r\n'): string {
  return `HTTP/1.1 200 OK\r\n${headers}Transform-Request-Id: ${id}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

/** An answer as serveTransform writes it: the id echoed, then its announcement that it frames by construction. */
function answer(id: string, body: string, headers = 'Content-Type: text/html\r\n'): string {
  return `HTTP/1.1 200 OK\r\n${headers}Transform-Request-Id: ${id}\r\nTransform-Pipeline: 1024\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

interface Gate {
  opened: Promise<void>;
  open(): void;
}

function createGate(): Gate {
  let open = (): void => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * Serve `fn` on input written in `pieces`, each its own read (a task apart); the output as Latin-1 text.
 * `written` resolves once every piece is in.
 */
async function serve(fn: TransformFunction, pieces: string[], written: Gate = createGate()): Promise<string> {
  const input = new PassThrough();
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', (chunk: Buffer) => chunks.push(chunk));
  const served = serveTransform(fn, { input, output, exitOnEnd: false });
  for (const piece of pieces) {
    input.write(Buffer.from(piece, 'latin1'));
    await nextTask();
  }
  written.open();
  input.end();
  await served;
  return Buffer.concat(chunks).toString('latin1');
}

/** `text` cut at each offset in `at`. */
function split(text: string, at: number[]): string[] {
  const cuts = [0, ...at, text.length];
  return cuts.slice(1).map((end, i) => text.slice(cuts[i], end));
}

const identity: TransformFunction = (response) => response;

/** The bodies and ids of the answers in `output`, however framed. */
async function readAnswers(output: string): Promise<{ ids: string[]; bodies: string[] }> {
  const bodies: string[] = [];
  for await (const response of parseResponses(new Response(output).body as ReadableStream<Uint8Array>)) {
    bodies.push(await response.text());
  }
  const ids = [...output.matchAll(/Transform-Request-Id: (\w+)/g)].map((match) => match[1] as string);
  return { ids, bodies };
}

describe('serveTransform answers', () => {
  const two = message('a', 'hello') + message('b', '<p>world</p>');
  const expected = answer('a', 'hello') + answer('b', '<p>world</p>');
  const splits: [string, string[]][] = [
    ['in one read', [two]],
    ['head and body apart', split(two, [two.indexOf('hello'), two.indexOf('HTTP/1.1', 1)])],
    ['a body in three reads', split(two, [two.indexOf('hello') + 1, two.indexOf('hello') + 3])],
    [
      'byte by byte',
      split(
        two,
        Array.from({ length: two.length - 1 }, (_, i) => i + 1),
      ),
    ],
  ];
  for (const [name, pieces] of splits) {
    it(`echoes the response it was given, body and id, ${name}`, async () => {
      expect(await readAnswers(await serve(identity, pieces))).toEqual({
        ids: ['a', 'b'],
        bodies: ['hello', '<p>world</p>'],
      });
    });

    it(`sends a whole body it never read with its length, ${name}`, async () => {
      // The transform answers once every piece is in: each body is complete, in one chunk or several.
      const written = createGate();
      const late: TransformFunction = async (response) => {
        await written.opened;
        return response;
      };
      expect(await serve(late, pieces, written)).toBe(expected);
    });
  }

  it('sends the headers a transform changed on the response it was given', async () => {
    const output = await serve(
      (response) => {
        response.headers.set('x-seen', 'yes');
        response.headers.delete('content-type');
        return response;
      },
      [message('a', 'hello')],
    );
    expect(output).toBe(answer('a', 'hello', 'X-Seen: yes\r\n'));
  });

  it('sends only the rest of a body the transform read part of, then released', async () => {
    const output = await serve(
      async (response) => {
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        await reader.read();
        reader.releaseLock();
        return response;
      },
      split(message('a', 'hello'), [message('a', 'hello').length - 2]),
    );
    expect(output).toBe(answer('a', 'lo'));
  });

  it('sends the whole body of a response the transform cloned', async () => {
    const output = await serve(
      async (response) => {
        await response.clone().text();
        return response;
      },
      [message('a', 'hello')],
    );
    expect(output).toBe(answer('a', 'hello'));
  });

  it('echoes bodies larger than the queue, in one read or many', async () => {
    const body = 'x'.repeat(200_000);
    const input = message('a', body) + message('b', 'small');
    for (const pieces of [[input], split(input, [1000, 70_000, 140_000, 199_000])]) {
      expect(await readAnswers(await serve(identity, pieces))).toEqual({
        ids: ['a', 'b'],
        bodies: [body, 'small'],
      });
    }
  });
});

describe('the response a transform is given', () => {
  /** Run `fn` on one message of `body`; what it resolved to, and the answer's body. */
  async function given<T>(
    fn: (response: Response) => Promise<T>,
    body = '{"a":1}',
    headers = 'Content-Type: application/json\r\n',
  ): Promise<{ value: T; answer: string }> {
    let value: T | undefined;
    const output = await serve(
      async (response) => {
        value = await fn(response);
        return new Response('done');
      },
      [message('a', body, headers)],
    );
    return { value: value as T, answer: output.slice(output.indexOf('\r\n\r\n') + 4) };
  }

  it('reads as any Response does, once', async () => {
    expect((await given((r) => r.text())).value).toBe('{"a":1}');
    expect((await given((r) => r.json())).value).toEqual({ a: 1 });
    expect(new TextDecoder().decode((await given((r) => r.arrayBuffer())).value)).toBe('{"a":1}');
    expect((await given((r) => r.bytes())).value).toEqual(new TextEncoder().encode('{"a":1}'));
    const { value } = await given(async (r) => {
      const before = r.bodyUsed;
      await r.text();
      const second = await r.text().then(
        () => 'read twice',
        (error: unknown) => (error as Error).name,
      );
      return { before, after: r.bodyUsed, second };
    });
    expect(value).toEqual({ before: false, after: true, second: 'TypeError' });
  });

  it('is used up once read whole, as any Response is', async () => {
    const { value } = await given(async (r) => {
      const text = await r.text();
      const body = r.body;
      const rewrap = (() => {
        try {
          new Response(body);
          return 'rewrapped';
        } catch (error) {
          return (error as Error).name;
        }
      })();
      const clone = (() => {
        try {
          r.clone();
          return 'cloned';
        } catch (error) {
          return (error as Error).name;
        }
      })();
      return { text, body: body === null ? 'null' : 'stream', locked: body?.locked, rewrap, clone };
    });
    expect(value).toEqual({
      text: '{"a":1}',
      body: 'stream',
      locked: true,
      rewrap: 'TypeError',
      clone: 'TypeError',
    });
  });

  it('reads a body that came in several reads, whole or still arriving', async () => {
    const input = message('a', 'hello world');
    const pieces = split(input, [input.indexOf('hello') + 2, input.indexOf('hello') + 7]);
    const upper: TransformFunction = async (response) => new Response((await response.text()).toUpperCase());
    const early = await serve(upper, pieces);
    const written = createGate();
    const late = await serve(
      async (response) => {
        await written.opened;
        return upper(response, { request: new Request('http://localhost/') });
      },
      pieces,
      written,
    );
    for (const output of [early, late]) {
      expect(await readAnswers(output)).toEqual({ ids: ['a'], bodies: ['HELLO WORLD'] });
    }
  });

  it('gives a blob and form data the media type its headers have now', async () => {
    const { value: blob } = await given(async (r) => {
      r.headers.set('content-type', 'text/plain');
      return r.blob();
    });
    expect(blob.type).toBe('text/plain');
    expect(await blob.text()).toBe('{"a":1}');
    const { value: form } = await given(
      (r) => r.formData(),
      'a=1&b=2',
      'Content-Type: application/x-www-form-urlencoded\r\n',
    );
    expect([...form]).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
  });

  it("has the message's headers, which a Response made from it carries, changes included", async () => {
    const { value } = await given(async (r) => {
      const first = r.headers;
      r.headers.set('x-changed', 'yes');
      const same = first === r.headers;
      const copy = new Response(r.body, r);
      return { same, headers: [...copy.headers], text: await copy.text() };
    });
    expect(value).toEqual({
      same: true,
      headers: [
        ['content-type', 'application/json'],
        ['x-changed', 'yes'],
      ],
      text: '{"a":1}',
    });
  });

  it('clones: both copies read the whole body, the copy with the headers of the moment', async () => {
    const { value } = await given(async (r) => {
      r.headers.set('x-copy', 'yes');
      const copy = r.clone();
      return { copy: await copy.text(), headers: copy.headers.get('x-copy'), original: await r.text() };
    });
    expect(value).toEqual({ copy: '{"a":1}', headers: 'yes', original: '{"a":1}' });
  });

  it('streams its body into a new Response', async () => {
    const output = await serve(
      (response) => new Response(response.body, response),
      [message('a', 'hello'), message('b', 'world')],
    );
    expect(await readAnswers(output)).toEqual({ ids: ['a', 'b'], bodies: ['hello', 'world'] });
  });

  it('stops reading an answer that trickles once its output is destroyed', async () => {
    // A destroyed stream queues nothing and says false to every write: the writer must stop, not read on.
    const input = new PassThrough();
    const output = new PassThrough();
    output.once('data', () => output.destroy());
    let cancelled = false;
    const served = serveTransform(
      () =>
        new Response(
          new ReadableStream({
            async pull(controller) {
              await nextTask();
              controller.enqueue(new Uint8Array(1024));
            },
            cancel() {
              cancelled = true;
            },
          }),
        ),
      { input, output, exitOnEnd: false },
    );
    input.end(message('a', ''));
    await served;
    expect(cancelled).toBe(true);
  });
});
