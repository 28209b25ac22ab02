// What the first non-blank record of a mapping file says about the whole file.
import { invalidFileHints } from './messages';

export type FirstRecord = { kind: 'header' } | { kind: 'data' } | { kind: 'invalid'; hint: string };

const OTHER_SEPARATORS: [string, string][] = [
  [';', 'semicolons'],
  ['\t', 'tabs'],
];

export function classifyFirstRecord(fields: readonly string[]): FirstRecord {
  if (fields.length === 1) {
    // One column holding another separator: a file saved with a different list separator (Excel in many locales uses ';').
    for (const [separator, name] of OTHER_SEPARATORS) {
      if (fields[0].includes(separator)) return { kind: 'invalid', hint: invalidFileHints.notCommaSeparated(name) };
    }
    return { kind: 'data' };
  }
  if (fields.length !== 2) return { kind: 'data' };
  const [source, destination] = fields.map((f) => f.trim());
  // The names in any letter case: the article's rule is about spaces, and refusing `source,destination` would help nobody.
  if (source.toLowerCase() !== 'source' || destination.toLowerCase() !== 'destination') return { kind: 'data' };
  if (source !== fields[0] || destination !== fields[1]) return { kind: 'invalid', hint: invalidFileHints.headerSpaces };
  return { kind: 'header' };
}
