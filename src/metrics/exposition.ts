/**
 * The Prometheus text exposition format, version 0.0.4, written by its rules: a `# HELP` and a `# TYPE` line
 * per metric family, then its samples, each family's samples together.
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */

/** The media type a scrape gets, as Prometheus asks for it. */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Label names and values of one sample, in order. */
export type Labels = readonly (readonly [name: string, value: string])[];

/** One sample: the suffix after the family's name (`_bucket`, `_sum`), its labels and value. */
export interface Sample {
  suffix?: string;
  labels: Labels;
  value: number;
}

/** One metric family. */
export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  samples: readonly Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Whether `name` is a valid metric name (or prefix of one). */
export function isMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

// In HELP, a backslash and a line feed are escaped; in label values, the double quote too.
function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function escapeLabelValue(text: string): string {
  return escapeHelp(text).replaceAll('"', '\\"');
}

/** Go's ParseFloat spellings: `+Inf`, `-Inf`, `NaN`; JavaScript's shortest round-trip text otherwise. */
function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function formatSample(name: string, sample: Sample): string {
  const labels =
    sample.labels.length === 0
      ? ''
      : `{${sample.labels.map(([label, value]) => `${label}="${escapeLabelValue(value)}"`).join(',')}}`;
  return `${name}${sample.suffix ?? ''}${labels} ${formatValue(sample.value)}\n`;
}

/** The families as one exposition, ending with a line feed as the format requires. */
export function writeExposition(families: readonly Family[]): string {
  let text = '';
  for (const family of families) {
    text += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) text += formatSample(family.name, sample);
  }
  return text;
}
