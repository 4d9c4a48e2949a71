// The targets of issue #14 in one table, read from the sections in results.json (each section's own run: a
// section refreshed alone with `npm run bench -- <section>` changes its rows only). For each measure: Node 24's
// figure (under `node24`), the system Node's, the target, and whether it is met. A target is judged on Node 24,
// or on both Nodes where it says so; a figure no run has produced yet is "no figure".

type Results = Record<string, unknown>;

/** One target: where its figure comes from and the bound it must keep. */
interface Target {
  measure: string;
  /** The results.json section the figure is read from (and the `npm run bench` section that writes it). */
  section: string;
  figure: (section: Record<string, unknown>) => number | undefined;
  unit: 'µs' | 'x';
  bound: 'at most' | 'at least';
  value: number;
  bothNodes?: boolean;
  /** The same figure with one message per process (`pipeline: 1`), shown beside it where a section has it. */
  pipeline1?: (section: Record<string, unknown>) => number | undefined;
}

/** The field at a path of names, when it is a finite number. */
function numberAt(value: unknown, ...path: string[]): number | undefined {
  const found = path.reduce<unknown>(
    (object, key) =>
      object !== null && typeof object === 'object' ? (object as Record<string, unknown>)[key] : undefined,
    value,
  );
  return typeof found === 'number' && Number.isFinite(found) ? found : undefined;
}

/** The ratio of two req/s rows of the HTTP section. */
const requestRatio =
  (row: string, against: string) =>
  (http: Record<string, unknown>): number | undefined => {
    const [rate, base] = [
      numberAt(http, 'targets', row, 'req/s'),
      numberAt(http, 'targets', against, 'req/s'),
    ];
    return rate === undefined || base === undefined || base === 0 ? undefined : rate / base;
  };

export const TARGETS: Record<string, Target> = {
  parentCpu: {
    measure: 'parent CPU added per 1 KiB via cat, 4 processes, 16 at a time',
    section: 'floor',
    figure: (floor) => numberAt(floor, 'table', 'pool', 'added µs'),
    unit: 'µs',
    bound: 'at most',
    value: 30,
  },
  httpCat: {
    measure: 'HTTP req/s via cat (4 processes) / plain Hono',
    section: 'http',
    figure: requestRatio('cat:src', 'bare'),
    pipeline1: requestRatio('cat:src pipeline 1', 'bare'),
    unit: 'x',
    bound: 'at least',
    value: 0.33,
  },
  httpChild: {
    measure: 'HTTP req/s via identity child (2 processes) / plain Hono',
    section: 'http',
    figure: requestRatio('child:src', 'bare'),
    pipeline1: requestRatio('child:src pipeline 1', 'bare'),
    unit: 'x',
    bound: 'at least',
    value: 0.25,
  },
  httpSideCall: {
    measure: 'HTTP req/s via cat / an HTTP side-call',
    section: 'http',
    figure: requestRatio('cat:src', 'sidecall'),
    pipeline1: requestRatio('cat:src pipeline 1', 'sidecall'),
    unit: 'x',
    bound: 'at least',
    value: 4,
  },
  sequential: {
    measure: '1 KiB sequential via identity child / raw pipe, less harness',
    section: 'overhead',
    figure: (overhead) => numberAt(overhead, 'ratio'),
    unit: 'x',
    bound: 'at most',
    value: 2,
  },
  throughput: {
    measure: '256 MiB via cat / raw Node -> cat -> Node',
    section: 'throughput',
    figure: (throughput) => numberAt(throughput, 'ratio'),
    unit: 'x',
    bound: 'at least',
    value: 0.9,
    bothNodes: true,
  },
  render: {
    measure: 'JSON page (300 rows): process per response / persistent',
    section: 'render',
    figure: (render) => numberAt(render, 'ratio'),
    unit: 'x',
    bound: 'at least',
    value: 100,
  },
};

/** One row of the summary, as results.json keeps it. */
export interface TargetRow {
  measure: string;
  section: string;
  node24: number | null;
  system: number | null;
  unit: 'µs' | 'x';
  target: string;
  /** The figures with `pipeline: 1`, not judged: what pipelining changes (null where there is none). */
  pipeline1: { node24: number | null; system: number | null };
  /** true: met; false: missed; null: a figure it needs is missing. */
  met: boolean | null;
  /** When the section was last run (its system Node run; Node 24's follows it at once). */
  measuredAt: string | null;
}

const keeps = (target: Target, figure: number): boolean =>
  target.bound === 'at most' ? figure <= target.value : figure >= target.value;

const describeTarget = (target: Target): string =>
  `${target.bound === 'at most' ? '<=' : '>='} ${target.value}${target.unit === 'µs' ? ' µs' : 'x'}${target.bothNodes ? ' on both' : ''}`;

const figureOf = (target: Target, sections: unknown, figure = target.figure): number | undefined => {
  const section = (sections as Results | undefined)?.[target.section];
  if (section === null || typeof section !== 'object') return undefined;
  return figure(section as Record<string, unknown>);
};

/** Every target's row, from results.json as `npm run bench` writes it (Node 24's sections under `node24`). */
export function summarizeTargets(results: Results): Record<string, TargetRow> {
  const rows: Record<string, TargetRow> = {};
  for (const [name, target] of Object.entries(TARGETS)) {
    const [node24, system] = [figureOf(target, results.node24), figureOf(target, results)];
    // Judged on the figures as measured; shown rounded.
    const judged = target.bothNodes ? [node24, system] : [node24];
    const met = judged.some((figure) => figure === undefined)
      ? null
      : judged.every((figure) => keeps(target, figure as number));
    const shown = (figure: number | undefined): number | null =>
      figure === undefined ? null : Number(figure.toFixed(target.unit === 'µs' ? 1 : 3));
    const { measure, section, unit, pipeline1 } = target;
    const pipelined = (sections: unknown): number | null =>
      pipeline1 === undefined ? null : shown(figureOf(target, sections, pipeline1));
    const measuredAt = (results.dates as Record<string, string> | undefined)?.[section] ?? null;
    rows[name] = {
      measure,
      section,
      node24: shown(node24),
      system: shown(system),
      pipeline1: { node24: pipelined(results.node24), system: pipelined(results) },
      unit,
      target: describeTarget(target),
      met,
      measuredAt,
    };
  }
  return rows;
}

/** The rows as a table for the console, its columns named after the two Nodes. */
export function formatTargets(
  rows: Record<string, TargetRow>,
  names: { node24: string; system: string },
): Record<string, Record<string, string>> {
  const shown = (figure: number | null, unit: TargetRow['unit']): string =>
    figure === null ? '-' : unit === 'µs' ? `${figure} µs` : `${figure}x`;
  return Object.fromEntries(
    Object.entries(rows).map(([name, row]) => [
      row.measure,
      {
        [names.node24]: shown(row.node24, row.unit),
        [names.system]: shown(row.system, row.unit),
        // Both Nodes in one column: the table stays within a terminal's width.
        'pipeline 1 (both)': TARGETS[name]?.pipeline1
          ? `${shown(row.pipeline1.node24, row.unit)} / ${shown(row.pipeline1.system, row.unit)}`
          : '',
        target: row.target,
        '': row.met === null ? 'no figure' : row.met ? 'met' : 'missed',
        section: row.section,
        run: row.measuredAt?.slice(5, 16).replace('T', ' ') ?? '',
      },
    ]),
  );
}

/**
 * Where the parent's CPU goes, for the first target: each row of the floor section (the pool, the raw pipe and
 * the floor, one message per process and pipelined), the µs it adds to the bare handler, on both Nodes.
 */
export function formatFloor(
  results: Results,
  names: { node24: string; system: string },
): Record<string, Record<string, number | string>> {
  const table = (sections: unknown): Record<string, unknown> =>
    ((sections as Results | undefined)?.floor as { table?: Record<string, unknown> } | undefined)?.table ??
    {};
  const [node24, system] = [table(results.node24), table(results)];
  const rows = [...new Set([...Object.keys(node24), ...Object.keys(system)])];
  return Object.fromEntries(
    rows.map((row) => [
      row,
      {
        [`${names.node24}, added µs`]: numberAt(node24, row, 'added µs') ?? '-',
        [`${names.system}, added µs`]: numberAt(system, row, 'added µs') ?? '-',
      },
    ]),
  );
}
