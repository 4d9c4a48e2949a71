// Row 1 of issue #8: 1 KiB through a serveTransform identity child, sequential, against a raw length-prefixed
// pipe round trip to a child of the same runtime, after subtracting the Request/Response work a transform does
// even when nothing runs (the handler's Response and the transformed one, each read). Target: at most 3x raw.
// Runtime-neutral: bench/runtimes.ts runs it under Bun and Deno too. ROUNDS, ITERATIONS.
import { spawn } from 'node:child_process';
import { createTransformPool } from '../src/index.ts';
import { alternate, median, report, round, roundEach, setting, tsCommand } from './common.ts';
import { pipelineOption } from './pipeline.ts';

const ROUNDS = setting('ROUNDS', 5, 3);
const ITERATIONS = setting('ITERATIONS', 1000, 20);
const PAGE = `<!doctype html><title>bench</title><p>${'x'.repeat(1024 - 42)}</p>`;
const message = (() => {
  const payload = Buffer.from(PAGE);
  const framed = Buffer.alloc(4 + payload.byteLength);
  framed.writeUInt32BE(payload.byteLength, 0);
  payload.copy(framed, 4);
  return framed;
})();

/** A warm echo child of this runtime and one length-prefixed round trip to it. */
function startEcho(): { roundTrip: () => Promise<void>; stop: () => void } {
  const [command, ...args] = tsCommand('echo-child.ts') as [string, ...string[]];
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let pending: Buffer = Buffer.alloc(0);
  let done: (() => void) | undefined;
  child.stdout.on('data', (chunk: Buffer) => {
    pending = pending.byteLength === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (pending.byteLength < 4 || pending.byteLength < 4 + pending.readUInt32BE(0)) return;
    pending = Buffer.alloc(0);
    done?.();
  });
  return {
    roundTrip: () =>
      new Promise<void>((resolve) => {
        done = resolve;
        child.stdin.write(message);
      }),
    stop: () => child.stdin.end(),
  };
}

const echo = startEcho();
const pool = createTransformPool({
  command: tsCommand('identity-child.ts'),
  processes: 1,
  ...(await pipelineOption(createTransformPool)),
});
const perRound = await alternate(
  {
    transform: async () => (await pool.transform(new Response(PAGE))).text(),
    harness: async () => {
      await new Response(PAGE).text();
      await new Response(PAGE).text();
    },
    raw: echo.roundTrip,
  },
  ROUNDS,
  ITERATIONS,
);
echo.stop();
await pool.close();

const transform = median(perRound.transform as number[]);
const harness = median(perRound.harness as number[]);
const raw = median(perRound.raw as number[]);
const ratio = (transform - harness) / raw;
await report(
  'overhead',
  `1 KiB through a serveTransform identity child, ${ITERATIONS} sequential per round, median of ${ROUNDS} rounds; ratio = (transform - harness) / raw`,
  {
    '1 KiB, sequential': {
      'transform µs': round(transform),
      'harness µs': round(harness),
      'raw round trip µs': round(raw),
      ratio: `${ratio.toFixed(2)}x raw`,
      target: '<= 3x',
    },
  },
  {
    rounds: ROUNDS,
    iterations: ITERATIONS,
    transformUs: round(transform),
    harnessUs: round(harness),
    rawUs: round(raw),
    ratio: round(ratio, 2),
    perRound: roundEach(perRound),
  },
);
