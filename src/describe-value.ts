/** How a wrong value is named in a validation message: its type, or NaN and null by name. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN';
  return typeof value;
}
