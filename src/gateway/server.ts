// The action gateway's HTTP API (fastify): the one place an admin's token is
// verified before anything reaches Temporal. Every request's token is checked
// first; requests are then rate-limited per verified identity (refused ones per
// address), so a script hammering a refused action stops here with 429; a
// verified action gets the gateway's signed proof. TLS where configured.
import { createHash } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { z } from 'zod';
import { TokenRefused, type TokenVerifier, type VerifiedClaims } from '../identity/token-verifier';
import type { ActionSigner } from '../identity/action-signer';

export interface GatewayOptions {
  verifier: TokenVerifier;
  signer: ActionSigner;
  /** requests per identity per window */
  rateLimit?: { max: number; windowMs: number };
  tls?: { cert: string; key: string };
}

declare module 'fastify' {
  interface FastifyRequest {
    verified?: VerifiedClaims;
    refused?: TokenRefused;
  }
}

const ProofRequest = z.object({
  action: z.enum(['submit', 'approve', 'deny', 'approveLockbox', 'prepare', 'migrate', 'cancel']),
  migrationId: z.string().min(1).max(200),
  /** the tenant whose admin the action needs; unset, the signed-in admin's own (the workflow then checks their role there) */
  tenantId: z.string().min(1).max(200).optional(),
  payload: z.record(z.string(), z.unknown()).default({}),
});

/** Checks the token before the body is even read; the verdict waits for the rate limiter. */
async function verify(request: FastifyRequest, verifier: TokenVerifier): Promise<void> {
  // The tenant is only known from the body: here the token itself, below the tenant.
  try {
    request.verified = await verifier.verify(request.headers.authorization);
  } catch (err) {
    if (!(err instanceof TokenRefused)) throw err;
    request.refused = err;
  }
}

export async function createGateway(options: GatewayOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 256 * 1024, ...(options.tls ? { https: options.tls } : {}) });
  app.addHook('onRequest', (request) => verify(request, options.verifier));
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: options.rateLimit?.max ?? 60,
    timeWindow: options.rateLimit?.windowMs ?? 60_000,
    keyGenerator: (request) =>
      request.verified ? `id:${createHash('sha256').update(`${request.verified.issuer}\n${request.verified.objectId}`).digest('hex')}` : `ip:${request.ip}`,
    errorResponseBuilder: (_request, context) => ({ statusCode: 429, message: `too many requests: wait ${Math.ceil(context.ttl / 1000)}s` }),
  });
  app.setErrorHandler((err: { statusCode?: number; message: string }, _request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.status(status).send({ error: status === 500 ? 'the gateway failed; see its log' : err.message.split('\n')[0] });
  });

  app.get('/healthz', async () => ({ ok: true }));
  // Public: the keys workflows and `t2t evidence verify` check proofs against.
  app.get('/v1/keys', async () => ({ keys: options.signer.published() }));

  app.post('/v1/proofs', async (request, reply) => {
    if (request.refused) return reply.status(request.refused.status).send({ error: request.refused.message });
    const parsed = ProofRequest.safeParse(request.body);
    if (!parsed.success) return reply.status(400).send({ error: `bad request: ${parsed.error.issues[0]?.path.join('.') || 'body'}: ${parsed.error.issues[0]?.message}` });
    const claims = request.verified!;
    if (parsed.data.tenantId !== undefined && claims.tenantId !== parsed.data.tenantId) {
      return reply.status(403).send({ error: `${claims.user} is signed in to tenant ${claims.tenantId}; this action needs an admin of tenant ${parsed.data.tenantId}` });
    }
    const { roles: _roles, ...proofClaims } = claims;
    const proof = options.signer.sign({ action: parsed.data.action, migrationId: parsed.data.migrationId, payload: parsed.data.payload, claims: proofClaims });
    return { proof };
  });
  return app;
}
