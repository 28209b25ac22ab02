// The worker's health endpoint for an orchestrator's probes (T2T_HEALTH_ADDRESS),
// plain HTTP with a small JSON body:
//
//   GET /readyz  200 only while the SDK Worker is RUNNING (polling its task queue);
//                503 while it starts (connecting, bundling the workflows) and from
//                the moment shutdown begins (SIGTERM: STOPPING, DRAINING, DRAINED),
//                so that a stopping pod stops counting as available while its
//                running activities finish within T2T_SHUTDOWN_GRACE.
//   GET /livez   200 unless the worker has FAILED or STOPPED: a worker that is
//                starting or draining is alive and must not be restarted.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { State } from '@temporalio/worker';

export const READINESS_PATH = '/readyz';
export const LIVENESS_PATH = '/livez';

/** The SDK Worker's state, or STARTING before the Worker exists. */
export type WorkerHealthState = State | 'STARTING';

export function isReady(state: WorkerHealthState): boolean {
  return state === 'RUNNING';
}

export function isLive(state: WorkerHealthState): boolean {
  return state !== 'FAILED' && state !== 'STOPPED';
}

export interface HealthServer {
  /** host:port it listens on (the port the system chose when asked for 0) */
  address: string;
  close(): Promise<void>;
}

/** Splits T2T_HEALTH_ADDRESS (validated by the configuration); an empty host listens on every interface. */
export function parseHealthAddress(address: string): { host?: string; port: number } {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i);
  return { ...(host ? { host } : {}), port: Number(address.slice(i + 1)) };
}

export async function startHealthServer(address: string, state: () => WorkerHealthState): Promise<HealthServer> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const check = path === READINESS_PATH ? isReady : path === LIVENESS_PATH ? isLive : undefined;
    if (!check) return reply(response, request, 404, { error: `no such path; try ${READINESS_PATH} or ${LIVENESS_PATH}` });
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, request, 405, { error: 'only GET and HEAD' });
    const current = state();
    const ok = check(current);
    reply(response, request, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable', state: current });
  });
  // Probes open a connection per check; none should keep the process from stopping.
  server.keepAliveTimeout = 1_000;
  const { host, port } = parseHealthAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`T2T_HEALTH_ADDRESS ${address}: ${err.code === 'EADDRINUSE' ? 'the port is already in use' : err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${host ?? bound.address}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function reply(response: http.ServerResponse, request: http.IncomingMessage, status: number, body: object): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  response.end(request.method === 'HEAD' ? undefined : text);
}
