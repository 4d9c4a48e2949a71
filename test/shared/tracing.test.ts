// Tracing through @opentelemetry/api: the SDK's in-memory exporter collects the spans a pool makes, one per
// transform, with a real context manager, so parenting is the application's active span.
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTransformPool, type PoolOptions, withTransform } from '../../src/index.ts';
import { loadTracing } from '../../src/shared/tracing.ts';
import { CHILD_RUNTIMES } from '../_child-runtimes.ts';
import { fixture, nodeFixture, StderrLines, track } from '../_utils.ts';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();
const tracer = trace.getTracer('test');

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
  await loadTracing();
});

afterAll(async () => {
  trace.disable();
  context.disable();
  await provider.shutdown();
});

beforeEach(() => exporter.reset());

function startPool(command: string[], options: Partial<PoolOptions> = {}) {
  return track(createTransformPool({ command, processes: 1, stderr: 'ignore', ...options }));
}

/** The spans of the pool, by name `transform`. */
function getTransformSpans(): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.name === 'transform');
}

describe('a span per transform', () => {
  it('is parented to the active span, with the command, pid, attempt, exact bytes in and out, and outcome', async () => {
    const pool = startPool(nodeFixture('count-input.mjs'));
    const body = 'x'.repeat(100_000);
    const { parentId, pid, took } = await tracer.startActiveSpan('request', async (parent) => {
      const response = await pool.transform(new Response(body));
      const text = await response.text();
      parent.end();
      return {
        parentId: parent.spanContext().spanId,
        pid: pool.stats().processes[0]?.pid,
        took: Number(text),
      };
    });
    const spans = getTransformSpans();
    expect(spans).toHaveLength(1);
    const [span] = spans as [ReadableSpan];
    expect(span.parentSpanContext?.spanId).toBe(parentId);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes).toEqual({
      'subprocess_transform.command': `${process.execPath} ${fixture('count-input.mjs')}`,
      'subprocess_transform.protocol': 'http',
      'process.pid': pid,
      'subprocess_transform.attempt': 1,
      // The whole message written (its size as the process counted it), and the answer's body bytes.
      'subprocess_transform.bytes_in': took,
      'subprocess_transform.bytes_out': String(took).length,
      'subprocess_transform.outcome': 'ok',
    });
    expect(took).toBeGreaterThan(body.length);
  });

  it('counts a chunked message with its framing, and ends when the streamed answer has ended', async () => {
    const pool = startPool(['cat']);
    const chunks = ['a'.repeat(10), 'b'.repeat(20)];
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const response = await pool.transform(new Response(stream));
    expect(await response.text()).toBe(`${'a'.repeat(10)}${'b'.repeat(20)}`);
    const [span] = getTransformSpans();
    // cat answers the message itself: its body is the 30 bytes, what was written is that plus head and framing.
    expect(span?.attributes['subprocess_transform.bytes_out']).toBe(30);
    expect(span?.attributes['subprocess_transform.bytes_in']).toBeGreaterThan(30 + '0\r\n\r\n'.length);
    expect(span?.attributes['subprocess_transform.outcome']).toBe('ok');
  });

  it('says failed, with the error code and an error status, for a Transform-Error', async () => {
    const pool = startPool(nodeFixture('transform-error.mjs'));
    await expect(pool.transform(new Response('fail'))).rejects.toMatchObject({
      code: 'ERR_TRANSFORM_FAILED',
    });
    await (await pool.transform(new Response('fine'))).text();
    const [failed, ok] = getTransformSpans();
    expect(failed?.attributes).toMatchObject({
      'subprocess_transform.outcome': 'failed',
      'error.type': 'ERR_TRANSFORM_FAILED',
    });
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed?.status.message).toContain('could not transform the response: cannot render this one');
    expect(ok?.attributes).toMatchObject({ 'subprocess_transform.outcome': 'ok' });
    expect(ok?.attributes['error.type']).toBeUndefined();
  });

  it('says aborted, without an error status, for a client that left mid-body', async () => {
    const pool = startPool(['cat']);
    const response = await pool.transform(new Response('y'.repeat(4 * 1024 * 1024)));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    // The process is drained and kept: the next transform ends the first's span story for good.
    await (await pool.transform(new Response('after'))).text();
    const [aborted] = getTransformSpans();
    expect(aborted?.attributes).toMatchObject({
      'subprocess_transform.outcome': 'aborted',
      'error.type': 'ERR_TRANSFORM_ABORTED',
    });
    expect(aborted?.status.code).toBe(SpanStatusCode.UNSET);
  });

  // A message its process was found dead for was read by no transform: it is handed on, not retried, and
  // keeps the one retry it has (the pool counts attempts so, and the span says the same).
  it('says attempt 1, on the new pid, for a transform handed on after its process was found dead', async () => {
    const log = new StderrLines();
    const handler = track(
      withTransform((request) => new Response(new URL(request.url).searchParams.get('body')), {
        command: nodeFixture('closes-stdin-when-idle.mjs'),
        processes: 1,
        ...log.options(),
      }),
    );
    await (await handler(new Request('http://example.test/?body=close'))).text();
    await log.until('stdin closed');
    const firstPid = handler.pool.stats().processes[0]?.pid;
    exporter.reset();
    expect(await (await handler(new Request('http://example.test/?body=retried'))).text()).toBe('retried');
    const [span] = getTransformSpans();
    expect(span?.attributes).toMatchObject({
      'subprocess_transform.attempt': 1,
      'subprocess_transform.outcome': 'ok',
    });
    expect(span?.attributes['process.pid']).not.toBe(firstPid);
    expect(span?.events.map((event) => event.name)).toEqual([]);
    // The message counts once, as the same message not retried does.
    exporter.reset();
    await (await handler(new Request('http://example.test/?body=retried'))).text();
    const [again] = getTransformSpans();
    expect(again?.attributes['subprocess_transform.attempt']).toBe(1);
    expect(span?.attributes['subprocess_transform.bytes_in']).toBe(
      again?.attributes['subprocess_transform.bytes_in'],
    );
  });

  // Its process wrote a stale answer to the message before it: not this message's fault, so it runs again on
  // another process, within the same span and trace.
  it('says attempt 2, on the new pid, with a retry event, for a transform run again after a blameless stop', async () => {
    const pool = startPool(nodeFixture('duplicate-before-next.mjs'));
    expect(await (await pool.transform(new Response('same'))).text()).toBe('echo same');
    const [single] = getTransformSpans();
    expect(await (await pool.transform(new Response('dup'))).text()).toBe('echo dup');
    const firstPid = pool.stats().processes[0]?.pid;
    exporter.reset();
    const { traceId, parentId } = await tracer.startActiveSpan('request', async (parent) => {
      // The duplicate of "dup" comes ahead of this answer: the process is replaced, this runs again.
      expect(await (await pool.transform(new Response('same'))).text()).toBe('echo same');
      parent.end();
      return { traceId: parent.spanContext().traceId, parentId: parent.spanContext().spanId };
    });
    const secondPid = pool.stats().processes[0]?.pid;
    expect(secondPid).not.toBe(firstPid);
    const spans = getTransformSpans();
    expect(spans).toHaveLength(1);
    const [span] = spans as [ReadableSpan];
    expect(span.spanContext().traceId).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe(parentId);
    expect(span.attributes).toMatchObject({
      'process.pid': secondPid,
      'subprocess_transform.attempt': 2,
      'subprocess_transform.outcome': 'ok',
      'subprocess_transform.bytes_out': 'echo same'.length,
    });
    expect(span.events.map((event) => [event.name, event.attributes])).toEqual([
      ['retry', { 'process.pid': secondPid, 'subprocess_transform.attempt': 2 }],
    ]);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    // The bytes of its last attempt, as for the same message run once.
    expect(span.attributes['subprocess_transform.bytes_in']).toBe(
      single?.attributes['subprocess_transform.bytes_in'],
    );
  });

  it("is made for a body filter's run too, with its outcome and no byte counts", async () => {
    const pool = startPool(['tr', 'a-z', 'A-Z'], { protocol: 'body' });
    const failing = startPool(['sh', '-c', 'cat >/dev/null; exit 3'], { protocol: 'body' });
    const { parentId } = await tracer.startActiveSpan('request', async (parent) => {
      expect(await (await pool.transform(new Response('quiet'))).text()).toBe('QUIET');
      await expect(failing.transform(new Response('x'))).rejects.toMatchObject({
        code: 'ERR_TRANSFORM_EXIT',
      });
      parent.end();
      return { parentId: parent.spanContext().spanId };
    });
    const spans = getTransformSpans();
    expect(spans.map((span) => span.parentSpanContext?.spanId)).toEqual([parentId, parentId]);
    // Each ends when its process has exited: in either order.
    const ok = spans.find((span) => span.attributes['subprocess_transform.outcome'] === 'ok');
    const failed = spans.find((span) => span.attributes['subprocess_transform.outcome'] === 'failed');
    expect(ok?.attributes).toMatchObject({
      'subprocess_transform.command': 'tr a-z A-Z',
      'subprocess_transform.protocol': 'body',
      'subprocess_transform.attempt': 1,
      'subprocess_transform.outcome': 'ok',
    });
    expect(ok?.attributes['subprocess_transform.bytes_in']).toBeUndefined();
    expect(failed?.attributes).toMatchObject({
      'subprocess_transform.outcome': 'failed',
      'error.type': 'ERR_TRANSFORM_EXIT',
    });
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('is not made for a response withTransform passes by untouched', async () => {
    const handler = track(withTransform(() => new Response(null, { status: 204 }), { command: ['cat'] }));
    expect((await handler(new Request('http://example.test/'))).status).toBe(204);
    expect(getTransformSpans()).toEqual([]);
  });
});

describe('tracing in each runtime', () => {
  for (const { runtime, argv } of CHILD_RUNTIMES) {
    it(`loads the API and parents the span under ${runtime}`, async () => {
      const [command = '', ...args] = argv;
      const { stdout } = await execa(command, [...args, fixture('trace-parent.mjs')]);
      const { text, spans } = JSON.parse(stdout) as {
        text: string;
        spans: { name: string; id: string; parent?: string; attributes: Record<string, unknown> }[];
      };
      expect(text).toBe('traced');
      const request = spans.find((span) => span.name === 'request');
      expect(spans.filter((span) => span.name === 'transform')).toEqual([
        {
          name: 'transform',
          id: expect.any(String),
          parent: request?.id,
          attributes: expect.objectContaining({
            'subprocess_transform.command': 'cat',
            'subprocess_transform.bytes_out': 6,
            'subprocess_transform.outcome': 'ok',
          }),
        },
      ]);
    });
  }
});
