/** An HTML table of `rows`, one column per key of the first row, every value escaped. */
export function renderTable(rows: Record<string, unknown>[]): string;
