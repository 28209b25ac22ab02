// The product's codec server: Temporal's remote codec protocol (POST .../encode
// and .../decode, a JSON Payloads object whose bytes are base64, the namespace in
// X-Namespace), so that the Web UI and `temporal --codec-endpoint` show decoded
// payloads to whoever may see them. CORS admits the configured Web UI origins
// only, with credentials. Who may call: a signed-in admin, whose token (the Web
// UI forwards its user's access token) is verified as the gateway verifies it, or
// a tool holding the shared token; with neither configured, anyone who reaches
// the port (the embedded stack, on loopback). Payload contents are never logged.
// A refused call is answered 401 before its body is read: nothing is decoded.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';

export interface CodecServerOptions {
  codec: PayloadCodec;
  namespace: string;
  corsOrigins: string[];
  /** a shared secret a tool may present instead of a sign-in (T2T_CODEC_AUTH_TOKEN) */
  authToken?: string;
  /** verifies a signed-in admin's token (src/identity/token-verifier.ts); rejects with a one-line reason */
  signIn?: { verify(authorization: string | undefined): Promise<unknown> };
  host?: string;
  port: number;
}

export interface RunningCodecServer {
  /** the base URL to give the Web UI and the CLI, e.g. http://127.0.0.1:8234 */
  url: string;
  close(): Promise<void>;
}

/** Temporal caps a payload at a few MB; a request for a whole history page stays well under this. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
  ...(p.data && p.data.length > 0 ? { data: Buffer.from(p.data).toString('base64') } : {}),
});

const digest = (text: string) => createHash('sha256').update(text).digest();

export function bearerTokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1]), digest(token));
}

export function createCodecServer(options: CodecServerOptions): http.Server {
  return http.createServer((request, response) => {
    const origin = request.headers.origin;
    const allowed = origin !== undefined && options.corsOrigins.includes(origin);
    if (allowed) {
      response.setHeader('Access-Control-Allow-Origin', origin);
      response.setHeader('Access-Control-Allow-Credentials', 'true');
      response.setHeader('Vary', 'Origin');
    }
    const reply = (status: number, body?: unknown) => {
      if (body === undefined) response.writeHead(status).end();
      else response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    const operation = /\/(encode|decode)\/?$/.exec(new URL(request.url ?? '/', 'http://codec').pathname)?.[1];
    if (request.method === 'OPTIONS') {
      // A preflight from another origin gets no CORS headers: the browser then refuses the call.
      if (allowed) {
        response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
        response.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
        response.setHeader('Access-Control-Max-Age', '600');
      }
      return reply(allowed ? 204 : 403);
    }
    if (request.method === 'GET' && new URL(request.url ?? '/', 'http://codec').pathname === '/healthz') return reply(200, { ok: true });
    if (!operation || request.method !== 'POST') return reply(404, { message: 'POST .../encode or .../decode' });
    if (origin !== undefined && !allowed) return reply(403, { message: `origin ${origin} is not allowed` });
    const namespace = request.headers['x-namespace'];
    void callerAllowed(request.headers.authorization, options).then((refusal) => {
      if (refusal !== undefined) {
        response.setHeader('WWW-Authenticate', 'Bearer');
        request.resume();
        return reply(401, { message: refusal });
      }
      if (namespace !== undefined && namespace !== options.namespace) {
        request.resume();
        return reply(403, { message: `namespace ${String(namespace)} is not served here` });
      }
      answer(request, response, reply, operation === 'encode' ? (p) => options.codec.encode(p) : (p) => options.codec.decode(p));
    });
  });
}

/** Reads the request's Payloads, runs them through the codec and answers with the result. */
function answer(request: http.IncomingMessage, response: http.ServerResponse, reply: (status: number, body?: unknown) => void, run: (payloads: Payload[]) => Promise<Payload[]>): void {
  const chunks: Buffer[] = [];
  let size = 0;
  request.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      reply(413, { message: 'request too large' });
      request.destroy();
    } else chunks.push(chunk);
  });
  request.on('end', () => {
    if (response.headersSent) return;
    let payloads: Payload[];
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payloads?: JsonPayload[] };
      // Protobuf's JSON leaves an empty list out: `{}` is a Payloads object with none.
      if (body === null || typeof body !== 'object' || (body.payloads !== undefined && !Array.isArray(body.payloads))) throw new Error('not a Payloads object');
      payloads = (body.payloads ?? []).map(fromJson);
    } catch {
      return reply(400, { message: 'the body must be a JSON Payloads object: {"payloads":[{"metadata":{...},"data":"<base64>"}]}' });
    }
    run(payloads).then(
      (result) => reply(200, { payloads: result.map(toJson) }),
      // The codec's message names a key id or says what is wrong with the data, never its contents.
      (err: unknown) => reply(400, { message: err instanceof Error ? err.message : String(err) }),
    );
  });
}

/** undefined when the caller may use the codec; else the one line that says why not. */
async function callerAllowed(authorization: string | undefined, options: CodecServerOptions): Promise<string | undefined> {
  if (!options.authToken && !options.signIn) return undefined;
  if (options.authToken && bearerTokenMatches(authorization, options.authToken)) return undefined;
  if (!options.signIn) return 'a valid bearer token is required';
  try {
    await options.signIn.verify(authorization);
    return undefined;
  } catch (err) {
    return `sign-in required: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
}

export async function startCodecServer(options: CodecServerOptions): Promise<RunningCodecServer> {
  const server = createCodecServer(options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** host:port as the configuration writes it (`:8234` for every interface). */
export function splitCodecAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i) || '0.0.0.0', port: Number(address.slice(i + 1)) };
}
