// Counts the requests the Temporal server answered, by operation, from its
// Prometheus endpoint: the benchmark prints them per migration next to the
// trivial workflow's, so a change in cost shows where it comes from.
export type RequestCounts = Map<string, number>;

export async function serverRequests(metricsUrl: string): Promise<RequestCounts> {
  const text = await (await fetch(metricsUrl)).text();
  const counts: RequestCounts = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('service_requests{')) continue;
    const operation = /operation="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (operation && Number.isFinite(value)) counts.set(operation, (counts.get(operation) ?? 0) + value);
  }
  return counts;
}

/** The requests made between two readings, per unit of work, largest first. */
export function requestsPer(before: RequestCounts, after: RequestCounts, units: number): [string, number][] {
  return [...after]
    .map(([operation, count]): [string, number] => [operation, (count - (before.get(operation) ?? 0)) / units])
    .filter(([, perUnit]) => perUnit >= 0.05)
    .sort((a, b) => b[1] - a[1]);
}
