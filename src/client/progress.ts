// A live progress line on the terminal for the long commands (`mapping check`,
// `upload`): written to stderr and rewritten in place, only when stderr is a
// terminal and --json is off, so that pipes, logs and scripts get nothing extra.
import { formatBytes } from './units';

export interface ProgressLine {
  /** replaces the line (at most a few times a second) */
  show(text: string): void;
  /** clears the line, before the command prints its result */
  done(): void;
}

const SILENT: ProgressLine = { show: () => undefined, done: () => undefined };
/** how often the line is rewritten at most */
const REDRAW_MS = 200;

export function progressLine(json: boolean, out: NodeJS.WriteStream = process.stderr): ProgressLine {
  if (json || !out.isTTY) return SILENT;
  let shownAt = 0;
  let shown = false;
  return {
    show(text) {
      const now = Date.now();
      if (now - shownAt < REDRAW_MS) return;
      shownAt = now;
      shown = true;
      const width = Math.max((out.columns ?? 80) - 1, 20);
      out.write(`\r\x1b[2K${text.slice(0, width)}`);
    },
    done() {
      if (shown) out.write('\r\x1b[2K');
      shown = false;
    },
  };
}

/** `1,234,567 rows · 41,000 rows/s · 12 errors so far` */
export function rowsProgress(rows: number, errors: number, elapsedMs: number, bytes?: number): string {
  const rate = elapsedMs > 0 ? Math.round((rows * 1000) / elapsedMs) : 0;
  return `${rows.toLocaleString('en-US')} rows${bytes !== undefined ? ` (${formatBytes(bytes)})` : ''} · ${rate.toLocaleString('en-US')} rows/s · ${errors.toLocaleString('en-US')} error${errors === 1 ? '' : 's'} so far`;
}

/** `12.0 MB of 40.0 MB (30%) · 8.1 MB/s` */
export function bytesProgress(sent: number, total: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (sent * 1000) / elapsedMs : 0;
  const share = total > 0 ? ` (${Math.floor((sent * 100) / total)}%)` : '';
  return `${formatBytes(sent)} of ${formatBytes(total)}${share} · ${formatBytes(rate)}/s`;
}
