// gRPC's unary call over Node's own HTTP/2, for the lean reader: a call is one
// POST of a length-prefixed message, answered by one such message and a
// `grpc-status` trailer (gRPC over HTTP/2, grpc/grpc PROTOCOL-HTTP2.md). @grpc/grpc-js
// does the same with channels, retries and name resolution the lean path does not
// use, for about 40 ms more CPU to load; plain (not TLS) connections only.
import http2 from 'node:http2';

/** A failed call: gRPC's status code and message. */
export class GrpcCallError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`${code} ${message}`);
  }
}

/** gRPC's status for a call that ran past its deadline. */
export const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;

export class GrpcChannel {
  private readonly session: http2.ClientHttp2Session;

  constructor(address: string) {
    this.session = http2.connect(`http://${address}`);
    // A connection that fails fails each call on it (UNAVAILABLE); the session's own error is not a crash.
    this.session.on('error', () => undefined);
  }

  close(): void {
    this.session.close();
  }

  unary(path: string, message: Uint8Array, deadlineMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const frame = Buffer.alloc(5 + message.length);
      frame.writeUInt32BE(message.length, 1); // byte 0: not compressed
      frame.set(message, 5);
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.session.request({
          ':method': 'POST',
          ':path': path,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${Math.max(1, Math.ceil(deadlineMs))}m`,
        });
      } catch (err) {
        reject(new GrpcCallError(UNAVAILABLE, (err as Error).message));
        return;
      }
      const chunks: Buffer[] = [];
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new GrpcCallError(DEADLINE_EXCEEDED, 'deadline exceeded'));
      }, deadlineMs);
      stream.on('response', (h) => (headers = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err) => {
        clearTimeout(timer);
        reject(new GrpcCallError(UNAVAILABLE, err.message));
      });
      // A stream reset or a connection lost before the reply ends: no answer (after 'end' this changes nothing).
      stream.on('close', () => {
        clearTimeout(timer);
        reject(new GrpcCallError(UNAVAILABLE, 'the call closed without a reply'));
      });
      stream.on('end', () => {
        clearTimeout(timer);
        // A reply with no message carries its status in the headers ("trailers-only").
        const status = Number(trailers['grpc-status'] ?? headers['grpc-status'] ?? UNAVAILABLE);
        if (status !== 0) {
          const text = String(trailers['grpc-message'] ?? headers['grpc-message'] ?? `HTTP ${headers[':status'] ?? '?'}`);
          reject(new GrpcCallError(status, decodeURIComponent(text)));
          return;
        }
        const body = Buffer.concat(chunks);
        if (body.length < 5 || body[0] !== 0) {
          reject(new GrpcCallError(UNAVAILABLE, 'a reply the lean reader cannot read (compressed or cut short)'));
          return;
        }
        resolve(body.subarray(5, 5 + body.readUInt32BE(1)));
      });
      stream.end(frame);
    });
  }
}
