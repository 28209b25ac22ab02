// Turns any error into the one line a person reads: no stack traces for mistakes.
import { ConfigError } from './config';

export function describeError(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    const code = (err as NodeJS.ErrnoException).code ?? (cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ECONNREFUSED') return `cannot connect: ${err.message}`;
    return err.message.split('\n')[0];
  }
  return String(err);
}
