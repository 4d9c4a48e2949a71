// A module Worker that runs the wire codec inside workerd: test/workers.test.ts bundles it with esbuild and
// serves it with Miniflare. `via` picks the functions (serializeResponse, parseResponses) or the streams
// (ResponseEncoderStream, ResponseDecoderStream).
//   GET  /encode?via=       the sample responses as HTTP/1.1 bytes
//   POST /decode?via=       the request body's HTTP/1.1 responses, described as JSON
//   GET  /round-trip?via=   the sample responses encoded then decoded inside the Worker, described as JSON
import {
  parseResponses,
  ResponseDecoderStream,
  ResponseEncoderStream,
  serializeResponse,
  WireError,
} from '../../src/wire/index.ts';

type Via = 'functions' | 'streams';

interface Described {
  status: number;
  statusText: string;
  headers: [string, string][];
  setCookie: string[];
  body: string;
}

/** A body that is not complete without waiting: its parts come one per timer turn, so it goes out chunked. */
function later(parts: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let next = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        const part = parts[next++];
        if (part === undefined) controller.close();
        else controller.enqueue(encoder.encode(part));
      },
    },
    { highWaterMark: 0 },
  );
}

function createSamples(): Response[] {
  const headers = new Headers({ 'content-type': 'application/json' });
  headers.append('set-cookie', 'a=1; Path=/');
  headers.append('set-cookie', 'b=2; HttpOnly');
  return [
    new Response('{"ok":true}', { headers }),
    new Response(null, { status: 204, headers: { 'x-empty': 'yes' } }),
    new Response(later(['chunk one, ', 'chunk two']), { status: 404, statusText: 'Gone Fishing' }),
    new Response(new Uint8Array(0), { status: 201 }),
  ];
}

function encode(responses: Response[], via: Via): ReadableStream<Uint8Array> {
  if (via === 'streams') {
    let next = 0;
    const source = new ReadableStream<Response>(
      {
        pull(controller) {
          const response = responses[next++];
          if (response === undefined) controller.close();
          else controller.enqueue(response);
        },
      },
      { highWaterMark: 0 },
    );
    return source.pipeThrough(new ResponseEncoderStream());
  }
  let next = 0;
  let current: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (current === undefined) {
          const response = responses[next++];
          if (response === undefined) return controller.close();
          current = serializeResponse(response).getReader();
        }
        const { done, value } = await current.read();
        if (!done) return controller.enqueue(value);
        current = undefined;
      }
    },
  });
}

async function describe(responses: AsyncIterable<Response>): Promise<Described[]> {
  const described: Described[] = [];
  for await (const response of responses) {
    described.push({
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
      setCookie: response.headers.getSetCookie(),
      body: await response.text(),
    });
  }
  return described;
}

function decode(bytes: ReadableStream<Uint8Array>, via: Via): AsyncIterable<Response> {
  return via === 'streams' ? bytes.pipeThrough(new ResponseDecoderStream()) : parseResponses(bytes);
}

async function describeOrFail(responses: AsyncIterable<Response>): Promise<Response> {
  try {
    return Response.json({ responses: await describe(responses) });
  } catch (error) {
    if (!(error instanceof WireError)) throw error;
    return Response.json({ error: { name: error.name, code: error.code, offset: error.offset } });
  }
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const via: Via = url.searchParams.get('via') === 'streams' ? 'streams' : 'functions';
    switch (url.pathname) {
      case '/encode':
        return new Response(encode(createSamples(), via), {
          headers: { 'content-type': 'application/octet-stream' },
        });
      case '/decode':
        if (request.body === null) return new Response('A body is required', { status: 400 });
        return describeOrFail(decode(request.body, via));
      case '/round-trip':
        return describeOrFail(decode(encode(createSamples(), via), via));
      default:
        return new Response('Not found', { status: 404 });
    }
  },
};
