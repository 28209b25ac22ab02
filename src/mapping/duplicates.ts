// The second pass: reads the file again, looks only at the candidate lines the
// duplicate index gave, groups their emails by exact lower-cased text (which
// settles hash collisions) and spells out every real duplicate with all its
// lines and the email as written on its first line. It stops after the last
// candidate line.
import type { MappingError } from './validator';
import { readRecordBatches, type ReadRecordsOptions } from './records';
import { duplicateEmail } from './messages';

export interface DuplicateCandidates {
  sources: Set<number>;
  destinations: Set<number>;
}

interface Group {
  lines: number[];
  /** the row of the first line */
  source: string;
  destination: string;
}

/**
 * A string of its own for what a group keeps until the end: a field is a slice
 * of the piece of the file it was read from, and would keep that whole piece
 * (up to 64 KiB) in memory, so that groups spread over a large file would keep
 * most of its text. Only candidate lines get here.
 */
function ownCopy(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** The candidate lines of either column, ascending, without repeats. */
function sortedLines(candidates: DuplicateCandidates): Int32Array {
  const lines = new Int32Array(candidates.sources.size + candidates.destinations.size);
  let n = 0;
  for (const line of candidates.sources) lines[n++] = line;
  for (const line of candidates.destinations) if (!candidates.sources.has(line)) lines[n++] = line;
  return lines.subarray(0, n).sort();
}

export async function findDuplicates(
  input: NodeJS.ReadableStream,
  candidates: DuplicateCandidates,
  options: ReadRecordsOptions & { onLine?: (line: number) => void } = {},
): Promise<MappingError[]> {
  const bySource = new Map<string, Group>();
  const byDestination = new Map<string, Group>();
  const group = (groups: Map<string, Group>, email: string, line: number, source: string, destination: string) => {
    const key = ownCopy(email).toLowerCase();
    const found = groups.get(key);
    if (found) found.lines.push(line);
    else groups.set(key, { lines: [line], source: ownCopy(source), destination: ownCopy(destination) });
  };
  const wanted = sortedLines(candidates);
  const last = wanted.length > 0 ? wanted[wanted.length - 1] : 0;
  let next = 0;
  let reached = 0;
  // The lines between candidates are counted, not split into fields.
  const only = (line: number): boolean => {
    reached = line;
    while (next < wanted.length && wanted[next] < line) next += 1;
    return next < wanted.length && wanted[next] === line;
  };
  // The first pass found the file to be text: holding its first 64 KiB back again would read past the last candidate.
  for await (const records of readRecordBatches(input, { ...options, knownText: true, only })) {
    for (const { line, fields, problem } of records) {
      if (line > reached) reached = line;
      if (line > last) break;
      const inSources = candidates.sources.has(line);
      const inDestinations = candidates.destinations.has(line);
      // A candidate line is always a two-column row with a well-formed email in that column.
      if ((!inSources && !inDestinations) || problem !== undefined || fields.length !== 2) continue;
      const source = fields[0].trim();
      const destination = fields[1].trim();
      if (inSources) group(bySource, source, line, source, destination);
      if (inDestinations) group(byDestination, destination, line, source, destination);
    }
    options.onLine?.(reached);
    // Leaving the loop early closes the file.
    if (reached > last) break;
  }

  const errors: MappingError[] = [];
  for (const [groups, column] of [[bySource, 'source'], [byDestination, 'destination']] as const) {
    for (const { lines, source, destination } of groups.values()) {
      if (lines.length < 2) continue;
      errors.push({ line: lines[0], source, destination, error: duplicateEmail(lines, column === 'source' ? source : destination) });
    }
  }
  return errors.sort((a, b) => a.line - b.line);
}
