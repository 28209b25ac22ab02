// One HTTP call to a Microsoft service with a bearer token: classifies the
// answer into MicrosoftServiceError kinds and reads Retry-After. It never
// retries by itself (Temporal's retry policy does) and never logs a token.
import { accessHint, MicrosoftService, MicrosoftServiceError } from './errors';

export interface TokenSource {
  /** A bearer token for `scope` in `tenantId`; cached by the implementation. */
  token(tenantId: string, scope: string): Promise<string>;
}

export interface ServiceCall {
  service: MicrosoftService;
  tenantId: string;
  scope: string;
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH';
  url: string;
  body?: unknown;
  /** request headers of the call's own (e.g. Graph's `ConsistencyLevel: eventual`) */
  headers?: Record<string, string>;
  /** statuses that are an answer rather than a failure (e.g. 404 for "already gone") */
  accept?: number[];
  signal?: AbortSignal;
}

export interface ServiceAnswer {
  status: number;
  headers: Headers;
  /** parsed JSON, or undefined for an empty or non-JSON body */
  body: unknown;
}

/** Retry-After as milliseconds: seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The service's own error text, from the usual shapes ({ error: { code, message } }, { message }). */
export function serviceMessage(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return typeof body === 'string' && body ? body.slice(0, 300) : undefined;
  const record = body as Record<string, unknown>;
  const error = record.error as Record<string, unknown> | string | undefined;
  if (typeof error === 'string') return error.slice(0, 300);
  const parts = [error?.code, error?.message ?? record.message].filter((p) => typeof p === 'string' && p);
  return parts.length > 0 ? parts.join(': ').slice(0, 300) : undefined;
}

export async function callService(tokens: TokenSource, call: ServiceCall): Promise<ServiceAnswer> {
  const token = await tokens.token(call.tenantId, call.scope);
  let response: Response;
  try {
    response = await fetch(call.url, {
      method: call.method,
      headers: {
        ...call.headers,
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      signal: call.signal,
    });
  } catch (err) {
    if (call.signal?.aborted) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new MicrosoftServiceError(
      call.service,
      'network',
      `${call.service} could not be reached at ${new URL(call.url).origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
    );
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text || undefined;
  }
  const answer = { status: response.status, headers: response.headers, body };
  if (response.ok || call.accept?.includes(response.status)) return answer;

  const what = `${call.method} ${new URL(call.url).pathname}`;
  const said = serviceMessage(body);
  const suffix = said ? ` (${said})` : '';
  const wait = retryAfterMs(response.headers.get('retry-after'));
  switch (true) {
    case response.status === 401:
      throw new MicrosoftServiceError(call.service, 'unauthorized', `${accessHint(call.service, 'unauthorized', call.tenantId)}${suffix}`, 401);
    case response.status === 403:
      throw new MicrosoftServiceError(call.service, 'forbidden', `${accessHint(call.service, 'forbidden', call.tenantId)}${suffix}`, 403);
    case response.status === 429:
      throw new MicrosoftServiceError(call.service, 'throttled', `${call.service} is throttling ${what}; retry after ${Math.ceil((wait ?? 0) / 1000)}s`, 429, wait);
    case response.status === 404:
      throw new MicrosoftServiceError(call.service, 'notFound', `${call.service}: ${what} was not found${suffix}`, 404);
    case response.status >= 500:
      throw new MicrosoftServiceError(call.service, 'unavailable', `${call.service} had a fault on ${what} (${response.status})${suffix}`, response.status, wait);
    default:
      throw new MicrosoftServiceError(call.service, 'refused', `${call.service} refused ${what} (${response.status})${suffix}`, response.status);
  }
}
