// A large usermapping.csv with a known set of errors: normal rows look like an
// Excel export (CRLF, some quoted rows, mixed case, blank `,` rows), and seeded
// rows of each kind are spread evenly. Returns the exact errors expected, as
// `line|error` keys, so the run can be checked line for line.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import {
  destinationDisabled,
  destinationNotFound,
  destinationUnlicensed,
  duplicateEmail,
  invalidEmail,
  sourceNotFound,
  targetSameAsSource,
  wrongColumnCount,
} from '../../src/mapping/messages';
import { USER_DISABLED, USER_UNLICENSED } from './directory-table';

export const SEEDED_KINDS = [
  'invalid source',
  'invalid destination',
  'same as source',
  'three columns',
  'one column',
  'duplicate source',
  'duplicate destination',
  'source not found',
  'destination not found',
  'destination disabled',
  'destination unlicensed',
] as const;
export type SeededKind = (typeof SEEDED_KINDS)[number];

export interface GeneratedMapping {
  rows: number;
  lines: number;
  bytes: number;
  seededPerKind: number;
  /** `line|error`, one per expected error */
  expected: string[];
  /** target-tenant state of user n (see directory-table.ts) */
  targetStates: Uint8Array;
}

export async function generateMapping(file: string, rows: number): Promise<GeneratedMapping> {
  const out = createWriteStream(file);
  let buffer = '';
  let bytes = 0;
  let line = 0;
  const write = async (text: string) => {
    buffer += `${text}\r\n`;
    line += 1;
    if (buffer.length >= 1 << 16) {
      bytes += Buffer.byteLength(buffer);
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  };

  const seededPerKind = Math.max(1, Math.floor(rows / 2000));
  const seededTotal = seededPerKind * SEEDED_KINDS.length;
  const stride = Math.max(2, Math.floor(rows / seededTotal));
  const targetStates = new Uint8Array(rows);
  const expected: string[] = [];
  const expect = (at: number, error: string) => expected.push(`${at}|${error}`);
  let seeded = 0;
  let previous = { line: 0, source: '', destination: '' };

  await write('Source,Destination');
  for (let i = 0; i < rows; i += 1) {
    if (i % 10_000 === 5_000) await write(i % 20_000 === 5_000 ? '' : ',');
    const at = line + 1;
    let source = i % 7 === 0 ? `U${i}@Contoso.com` : `u${i}@contoso.com`;
    let destination = `u${i}@fabrikam.com`;
    let row: string | undefined;
    if (i % stride === 1 && seeded < seededTotal) {
      const kind = SEEDED_KINDS[seeded % SEEDED_KINDS.length];
      seeded += 1;
      switch (kind) {
        case 'invalid source':
          source = `not-an-email-${i}`;
          expect(at, invalidEmail(source));
          break;
        case 'invalid destination':
          destination = `u${i}@fabrikam`;
          expect(at, invalidEmail(destination));
          break;
        case 'same as source':
          destination = source.toUpperCase();
          expect(at, targetSameAsSource(at));
          break;
        case 'three columns':
          row = `${source},${destination},extra`;
          expect(at, wrongColumnCount(at));
          break;
        case 'one column':
          row = source;
          expect(at, wrongColumnCount(at));
          break;
        case 'duplicate source':
          source = previous.source.toLowerCase();
          expect(previous.line, duplicateEmail([previous.line, at], previous.source));
          break;
        case 'duplicate destination':
          destination = previous.destination.toUpperCase();
          expect(previous.line, duplicateEmail([previous.line, at], previous.destination));
          break;
        case 'source not found':
          source = `ghost${i}@contoso.com`;
          expect(at, sourceNotFound(source));
          break;
        case 'destination not found':
          destination = `ghost${i}@fabrikam.com`;
          expect(at, destinationNotFound(destination));
          break;
        case 'destination disabled':
          targetStates[i] = USER_DISABLED;
          expect(at, destinationDisabled(destination));
          break;
        case 'destination unlicensed':
          targetStates[i] = USER_UNLICENSED;
          expect(at, destinationUnlicensed(destination));
          break;
      }
    }
    if (row === undefined) row = i % 1000 === 0 ? `"${source}","${destination}"` : `${source},${destination}`;
    await write(row);
    previous = { line: at, source, destination };
  }
  bytes += Buffer.byteLength(buffer);
  out.end(buffer);
  await once(out, 'finish');
  return { rows, lines: line, bytes, seededPerKind, expected, targetStates };
}
