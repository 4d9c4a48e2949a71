// The pool's `pipeline` option (messages one process may hold at once), set for every benchmark in one place.
// BENCH_PIPELINE=n: every pool of the benchmarks takes `pipeline: n`; unset, each takes the pool's default. Where
// one message per process against that setting matters (bench/http.ts), a second row runs with `pipeline: 1`.
// A build from before the option refuses it as an unknown option: it gets the default rows alone, and a line
// saying the pipeline rows were skipped (on stderr: stdout may carry JSON). Runtime-neutral (Node, Bun, Deno).
import process from 'node:process';

/** What a benchmark spreads into a pool's options: `{}` is the pool's default. */
export type PipelineOption = { pipeline?: number };

/** Any tree's `createTransformPool` (BENCH_SOURCES compares trees that may differ in the option). */
type CreatePool = (options: { command: string; processes: number; pipeline?: number }) => {
  close(): Promise<void>;
};

const SKIPPED = 'pipeline not supported by this build';

/** BENCH_PIPELINE, checked: a whole number from 1, or undefined for the pool's default. */
export const PIPELINE: number | undefined = (() => {
  const value = process.env.BENCH_PIPELINE;
  if (value === undefined || value === '') return undefined;
  const pipeline = Number(value);
  if (!Number.isInteger(pipeline) || pipeline < 1) {
    throw new RangeError(`Expected BENCH_PIPELINE to be a whole number from 1, got ${JSON.stringify(value)}`);
  }
  return pipeline;
})();

const support = new WeakMap<CreatePool, boolean>();

/**
 * Whether this `createTransformPool` takes `pipeline`, tried once by making a pool with it (and closing it):
 * a build without the option throws a TypeError naming it; any other error is the benchmark's to report.
 */
async function supportsPipeline(create: CreatePool): Promise<boolean> {
  const known = support.get(create);
  if (known !== undefined) return known;
  let supported = true;
  try {
    await create({ command: 'cat', processes: 1, pipeline: 1 }).close();
  } catch (error) {
    if (!(error instanceof TypeError && error.message.includes('"pipeline"'))) throw error;
    supported = false;
  }
  support.set(create, supported);
  return supported;
}

/** The setting every pool of a benchmark takes: BENCH_PIPELINE where the build has the option, else the default. */
export async function pipelineOption(create: CreatePool): Promise<PipelineOption> {
  if (PIPELINE === undefined) return {};
  if (await supportsPipeline(create)) return { pipeline: PIPELINE };
  console.error(`${SKIPPED}: BENCH_PIPELINE=${PIPELINE} ignored`);
  return {};
}

/**
 * The pipeline rows of a benchmark where the setting matters, by the suffix of their names: '' for the setting
 * every benchmark uses, ' pipeline 1' for one message per process (unless that is the setting already). A build
 * without the option gets '' alone, and says so.
 */
export async function pipelineRows(
  create: CreatePool,
  where = 'this build',
): Promise<Record<string, PipelineOption>> {
  if (!(await supportsPipeline(create))) {
    const ignored = PIPELINE === undefined ? '' : `, BENCH_PIPELINE=${PIPELINE} ignored`;
    console.error(`${SKIPPED} (${where}): the pipeline 1 rows are skipped${ignored}`);
    return { '': {} };
  }
  const setting = await pipelineOption(create);
  return PIPELINE === 1 ? { '': setting } : { '': setting, ' pipeline 1': { pipeline: 1 } };
}

/** The setting in words, for results.json and the tables: a number, 'default', or why there is none. */
export async function describePipeline(create: CreatePool): Promise<number | string> {
  if (!(await supportsPipeline(create))) return SKIPPED;
  return PIPELINE ?? 'default';
}
