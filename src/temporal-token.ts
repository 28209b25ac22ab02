// The bearer token a process presents to a Temporal cluster that runs Temporal's JWT
// authorizer (docs/deployment.md, "Temporal's own authorization"). Tokens live an hour or so
// and a worker runs for weeks, so the token is renewed here and the connections follow it:
// a client Connection asks for the current token at each call, a worker's NativeConnection
// is handed each new one. Either a file something else keeps fresh (a sidecar, a mounted
// secret), re-read when it changes, or OAuth 2.0 client credentials against the identity
// provider's token endpoint (Microsoft Entra ID's service principals), asked again before
// the token expires.
import { readFileSync } from 'node:fs';
import type { TemporalTokenSettings } from './config';

export interface TemporalToken {
  /** the token to send now */
  current(): string;
  /** called with each new token, after the first */
  onRenew(listener: (token: string) => void): void;
  close(): void;
}

export class TemporalTokenError extends Error {
  override name = 'TemporalTokenError';
}

export interface TemporalTokenTiming {
  /** how often a token file is read again */
  filePollMs: number;
  /** how long after a failed renewal the endpoint is asked again */
  retryMs: number;
}

const TIMING: TemporalTokenTiming = { filePollMs: 10_000, retryMs: 30_000 };
/** the share of a token's lifetime after which a new one is asked for */
const RENEW_AT = 0.75;

/** One source per process and settings: a worker's two connections present the same token. */
const opened = new Map<string, Promise<TemporalToken>>();

/** The configured token, first one in hand; undefined when none is configured. */
export function openTemporalToken(settings: TemporalTokenSettings | undefined, timing: Partial<TemporalTokenTiming> = {}): Promise<TemporalToken> | undefined {
  if (!settings) return undefined;
  const key = JSON.stringify(settings);
  let token = opened.get(key);
  if (!token) {
    const t = { ...TIMING, ...timing };
    token = 'file' in settings ? fileToken(settings.file, t) : clientCredentialsToken(settings, t);
    token.catch(() => opened.delete(key));
    opened.set(key, token);
  }
  return token;
}

class Renewing implements TemporalToken {
  private readonly listeners: ((token: string) => void)[] = [];
  timer: NodeJS.Timeout | undefined;
  closed = false;
  constructor(private value: string) {}

  current(): string {
    return this.value;
  }

  onRenew(listener: (token: string) => void): void {
    this.listeners.push(listener);
  }

  renewed(value: string): void {
    if (value === this.value) return;
    this.value = value;
    for (const listener of this.listeners) listener(value);
  }

  /** Runs `next` after `ms`; the timer does not keep the process alive. */
  after(ms: number, next: () => void): void {
    if (this.closed) return;
    this.timer = setTimeout(next, ms);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new TemporalTokenError(`T2T_TEMPORAL_TOKEN_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!text) throw new TemporalTokenError(`T2T_TEMPORAL_TOKEN_FILE: ${file} is empty`);
  return text.replace(/^Bearer\s+/i, '');
}

async function fileToken(file: string, timing: TemporalTokenTiming): Promise<TemporalToken> {
  const token = new Renewing(readTokenFile(file));
  const poll = () => {
    try {
      token.renewed(readTokenFile(file));
    } catch {
      // Being replaced, or briefly missing: the token in hand is still sent.
    }
    token.after(timing.filePollMs, poll);
  };
  token.after(timing.filePollMs, poll);
  return token;
}

interface TokenResponse {
  access_token?: string;
  expires_in?: number | string;
  error?: string;
  error_description?: string;
}

async function requestToken(settings: Extract<TemporalTokenSettings, { tokenUrl: string }>): Promise<{ value: string; lifetimeMs: number }> {
  const secret =
    'value' in settings.clientSecret
      ? settings.clientSecret.value
      : (() => {
          try {
            return readFileSync(settings.clientSecret.file, 'utf8').trim();
          } catch (err) {
            throw new TemporalTokenError(`T2T_TEMPORAL_CLIENT_SECRET_FILE: cannot read ${settings.clientSecret.file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
          }
        })();
  let response: Response;
  try {
    response = await fetch(settings.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: settings.clientId, client_secret: secret, scope: settings.scope }).toString(),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw new TemporalTokenError(`T2T_TEMPORAL_TOKEN_URL: cannot reach ${settings.tokenUrl} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message})`);
  }
  const body = (await response.json().catch(() => ({}))) as TokenResponse;
  if (!response.ok || !body.access_token) {
    const why = body.error ? `${body.error}${body.error_description ? `: ${body.error_description.split('\n')[0]}` : ''}` : `HTTP ${response.status}`;
    throw new TemporalTokenError(`T2T_TEMPORAL_TOKEN_URL: ${settings.tokenUrl} gave client ${settings.clientId} no token for ${settings.scope} (${why})`);
  }
  const seconds = Number(body.expires_in);
  return { value: body.access_token, lifetimeMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 3_600_000 };
}

async function clientCredentialsToken(settings: Extract<TemporalTokenSettings, { tokenUrl: string }>, timing: TemporalTokenTiming): Promise<TemporalToken> {
  const first = await requestToken(settings);
  const token = new Renewing(first.value);
  const schedule = (inMs: number, expiresAt: number) => token.after(Math.max(1_000, inMs), () => void ask(expiresAt));
  const ask = (expiresAt: number) =>
    requestToken(settings).then(
      (next) => {
        token.renewed(next.value);
        schedule(next.lifetimeMs * RENEW_AT, Date.now() + next.lifetimeMs);
      },
      (err: unknown) => {
        // The token in hand may still be good: say so, and ask again soon (sooner as it nears its end).
        console.error(`temporal token: renewal failed, retrying: ${(err as Error).message}`);
        schedule(Math.min(timing.retryMs, (expiresAt - Date.now()) / 2), expiresAt);
      },
    );
  schedule(first.lifetimeMs * RENEW_AT, Date.now() + first.lifetimeMs);
  return token;
}
