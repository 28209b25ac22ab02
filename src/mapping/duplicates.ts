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

function lastLine(lines: Set<number>): number {
  let last = 0;
  for (const line of lines) if (line > last) last = line;
  return last;
}

export async function findDuplicates(
  input: NodeJS.ReadableStream,
  candidates: DuplicateCandidates,
  options: ReadRecordsOptions & { onLine?: (line: number) => void } = {},
): Promise<MappingError[]> {
  const bySource = new Map<string, Group>();
  const byDestination = new Map<string, Group>();
  const group = (groups: Map<string, Group>, email: string, line: number, source: string, destination: string) => {
    const key = email.toLowerCase();
    const found = groups.get(key);
    if (found) found.lines.push(line);
    else groups.set(key, { lines: [line], source, destination });
  };
  const last = Math.max(lastLine(candidates.sources), lastLine(candidates.destinations));
  let done = false;
  let reached = 0;
  // The first pass found the file to be text: holding its first 64 KiB back again would read past the last candidate.
  for await (const records of readRecordBatches(input, { ...options, knownText: true })) {
    for (const { line, fields, problem } of records) {
      reached = line;
      if (line > last) {
        done = true;
        break;
      }
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
    if (done) break;
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
