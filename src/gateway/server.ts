// The action gateway's HTTP API (fastify): the one place an admin's token is
// verified before anything reaches Temporal. Every request's token is checked
// first; requests are then rate-limited per verified identity (refused ones per
// address), so a script hammering a refused action stops here with 429; a
// verified action gets the gateway's signed proof and, where the gateway has a
// Temporal connection, is sent on to the migration with it. TLS where configured.
import { createHash, randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { z } from 'zod';
import { TokenRefused, type TokenVerifier, type VerifiedClaims } from '../identity/token-verifier';
import type { ActionSigner } from '../identity/action-signer';
import { submitBatchProofPayload, submitProofPayload, submitRehearsalProofPayload, type ActionProof } from '../identity/action-proof';
import { Readable } from 'node:stream';
import { requiredTenant } from '../migration/authorization';
import { UserError } from '../client/user-error';
import type { MigrationClient, SignalAction } from '../client/migrations';
import type { BatchPlan, BatchRequest, BatchSubmission } from '../client/batch-submission';
import type { RehearsalClient } from '../client/rehearsals';

/** How the gateway plans and starts a batch (gateway/forwarding.ts): the same steps `t2t batch submit` takes. */
export interface BatchStarter {
  plan(input: BatchRequest, checkTenant: (sourceTenantId: string) => void): Promise<BatchPlan>;
  start(plan: BatchPlan): Promise<BatchSubmission>;
}

/** How the gateway checks and starts a rehearsal (gateway/forwarding.ts): the same steps `t2t rehearse` takes. */
export type RehearsalStarter = Pick<RehearsalClient, 'plan' | 'putMapping' | 'start'>;

export interface GatewayOptions {
  verifier: TokenVerifier;
  signer: ActionSigner;
  /** requests per identity per window */
  rateLimit?: { max: number; windowMs: number };
  tls?: { cert: string; key: string };
  /** the migration client actions are forwarded with (gateway/forwarding.ts); unset: the gateway only signs (POST /v1/proofs) */
  migrations?: () => Promise<MigrationClient>;
  /** how batches are planned and started (POST /v1/batches); unset with `migrations` unset */
  batches?: () => Promise<BatchStarter>;
  /** how rehearsals are checked and started (POST /v1/rehearsals); unset with `migrations` unset */
  rehearsals?: () => Promise<RehearsalStarter>;
  /**
   * On-behalf-of (gateway/forwarding.ts): before a signed action is sent on, the admin's verified token
   * is exchanged and left for that action's service call, where the admin's tenant takes delegated
   * calls; a failure refuses the action with one line, before anything reaches the migration.
   */
  handOver?: (handover: AdminTokenHandover) => Promise<void>;
}

/** What the gateway hands over for an action's call: never logged, never sent on to Temporal. */
export interface AdminTokenHandover {
  action: string;
  /** the proof's action id, which the workflow passes to the call */
  actionId: string;
  tenantId: string;
  /** the admin's bearer token the gateway just verified */
  adminToken: string;
}

/** The actions an admin sends on a migration, by their Temporal names (SPEC §7). */
const FORWARDED_ACTIONS = ['approve', 'deny', 'approveLockbox', 'requestStorage', 'prepare', 'migrate', 'cancel'] as const;

const SubmitRequest = z.object({
  environmentId: z.string().min(1).max(200),
  targetTenantId: z.string().min(1).max(200),
  /** a move-back (`t2t moveback`): the migration it reverses, signed with the rest; the migration checks the link when it starts */
  reversesMigrationId: z.string().min(1).max(200).optional(),
});

const BatchSubmitRequest = z.object({
  sourceTenantId: z.string().min(1).max(200),
  targetTenantId: z.string().min(1).max(200),
  environmentIds: z.array(z.string().min(1).max(200)).min(1).max(10_000).optional(),
  concurrency: z.number().int().min(1).max(100),
});

/** The mapping file comes in the body: a rehearsal's request may be as large as a real usermapping.csv. */
const REHEARSAL_BODY_LIMIT = 64 * 1024 * 1024;

const RehearsalRequest = z.object({
  environmentId: z.string().min(1).max(200),
  targetTenantId: z.string().min(1).max(200),
  /** usermapping.csv's text */
  mapping: z.string(),
});

/** An admin of another tenant than the one the action needs: 403, before anything is sent. */
class OtherTenant extends Error {
  constructor(claims: VerifiedClaims, tenantId: string) {
    super(`${claims.user} is signed in to tenant ${claims.tenantId}; this action needs an admin of tenant ${tenantId}`);
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    verified?: VerifiedClaims;
    refused?: TokenRefused;
  }
}

const ProofRequest = z.object({
  action: z.enum(['submit', 'rehearse', 'approve', 'deny', 'approveLockbox', 'requestStorage', 'prepare', 'migrate', 'cancel']),
  migrationId: z.string().min(1).max(200),
  /** the tenant whose admin the action needs; unset, the signed-in admin's own (the workflow then checks their role there) */
  tenantId: z.string().min(1).max(200).optional(),
  payload: z.record(z.string(), z.unknown()).default({}),
});

/** Migration ids are UUIDs (as `find` takes them): so they go into a visibility query as they are. */
const MIGRATION_ID = /^[0-9a-fA-F-]{8,64}$/;

/** The ids a signed submit vouches for: the migration's and its target's, or a batch's and each of its migrations'. */
function submittedIds(migrationId: string, payload: Record<string, unknown>): string[] {
  const environments = Array.isArray(payload.environments) ? (payload.environments as Record<string, unknown>[]) : [];
  const ids = [migrationId, payload.targetMigrationId, ...environments.flatMap((e) => [e?.migrationId, e?.targetMigrationId])];
  return ids.filter((id) => id !== undefined).map((id) => (typeof id === 'string' ? id : String(id)));
}

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

/**
 * A request's verdict and body, in the order every route answers them: the token's refusal (401/403),
 * then a body that does not parse (400), each sent here; undefined when one was.
 */
function admitted<T>(request: FastifyRequest, reply: FastifyReply, schema: z.ZodType<T>): { data: T } | undefined {
  if (request.refused) {
    void reply.status(request.refused.status).send({ error: request.refused.message });
    return undefined;
  }
  const parsed = schema.safeParse(request.body);
  if (!parsed.success) {
    void reply.status(400).send({ error: `bad request: ${parsed.error.issues[0]?.path.join('.') || 'body'}: ${parsed.error.issues[0]?.message}` });
    return undefined;
  }
  return { data: parsed.data };
}

/** The bearer token of a verified request, as the verifier read it. */
function bearerOf(request: FastifyRequest): string {
  return /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim() ?? '';
}

/** An error's first line and its causes' (three at most), for the log. */
function withCauses(err: { message: string; cause?: unknown }): string {
  const lines = [err.message.split('\n')[0]];
  for (let cause = err.cause, depth = 0; cause instanceof Error && depth < 3; cause = cause.cause, depth += 1) lines.push(cause.message.split('\n')[0]);
  return lines.join(': caused by: ');
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
  app.setErrorHandler((err: { statusCode?: number; message: string }, request, reply) => {
    const status = err.statusCode && ((err.statusCode >= 400 && err.statusCode < 500) || err.statusCode === 501 || err.statusCode === 503) ? err.statusCode : 500;
    // The fault's own words go to the log, not to the caller.
    // With its causes: Temporal's client wraps the server's own reason (a refused token, say) as a cause.
    if (status === 500) console.error(`gateway: ${request.method} ${request.routeOptions.url ?? request.url}: ${withCauses(err)}`);
    void reply.status(status).send({ error: status === 500 ? 'the gateway failed; see its log' : err.message.split('\n')[0] });
  });

  app.get('/healthz', async () => ({ ok: true }));
  // Public: the keys workflows and `t2t evidence verify` check proofs against.
  app.get('/v1/keys', async () => ({ keys: options.signer.published() }));

  app.post('/v1/proofs', async (request, reply) => {
    const parsed = admitted(request, reply, ProofRequest);
    if (!parsed) return reply;
    const claims = request.verified!;
    if (parsed.data.tenantId !== undefined && claims.tenantId !== parsed.data.tenantId) {
      return reply.status(403).send({ error: new OtherTenant(claims, parsed.data.tenantId).message });
    }
    if (parsed.data.action === 'submit') {
      const ids = submittedIds(parsed.data.migrationId, parsed.data.payload);
      const malformed = ids.find((id) => !MIGRATION_ID.test(id));
      if (malformed !== undefined) return reply.status(400).send({ error: `bad request: '${malformed}' is not a migration id (a UUID)` });
      const used = await idInUse(ids);
      if (used) return reply.status(409).send({ error: used });
    }
    return { proof: sign(parsed.data.action, parsed.data.migrationId, parsed.data.payload, claims) };
  });

  /**
   * Why a submit with these ids is refused, or undefined: an id some migration already has. A proof
   * signed for a live migration's ids would otherwise let a second start reuse them and the proofs
   * signed for the first (its actions name it by these ids).
   */
  const idInUse = async (ids: string[]): Promise<string | undefined> => {
    const used = await (await forwarding<MigrationClient>()).usedMigrationId(ids);
    return used && `submit refused: the id ${used.id} is already used by migration ${used.workflowId}; a submit gets new ids (t2t sign submit makes them)`;
  };

  const sign = (action: string, migrationId: string, payload: Record<string, unknown>, claims: VerifiedClaims): ActionProof => {
    const { roles: _roles, ...proofClaims } = claims;
    return options.signer.sign({ action, migrationId, payload, claims: proofClaims });
  };

  /** Hands the admin's token over for the action's call (options.handOver); the refusal's one line, or undefined. */
  const handOver = async (action: string, proof: ActionProof, request: FastifyRequest): Promise<string | undefined> => {
    if (!options.handOver) return undefined;
    try {
      await options.handOver({ action, actionId: proof.actionId, tenantId: proof.claims.tenantId, adminToken: bearerOf(request) });
      return undefined;
    } catch (err) {
      return `${action} refused: the gateway could not get a token on your behalf for tenant ${proof.claims.tenantId}: ${(err as Error).message.split('\n')[0]}`;
    }
  };

  /** The migration client (or the batch starter), or the one-line answer why there is none. */
  const forwarding = async <T>(open: (() => Promise<T>) | undefined = options.migrations as (() => Promise<T>) | undefined): Promise<T> => {
    if (!open) throw Object.assign(new Error('this gateway only signs (POST /v1/proofs): it has no Temporal connection'), { statusCode: 501 });
    try {
      return await open();
    } catch (err) {
      throw Object.assign(new Error(`the gateway cannot reach Temporal: ${(err as Error).message.split('\n')[0]}`), { statusCode: 503 });
    }
  };

  // An admin's action on a migration (by its source or target id): the tenant the action needs is read
  // from the migration (the status query, which writes no history), the payload signed with the
  // verified admin as its actor, and the Update sent. The answer is the workflow's: 200 accepted,
  // 409 refused with its reason.
  app.post<{ Params: { migrationId: string; action: string } }>('/v1/migrations/:migrationId/actions/:action', async (request, reply) => {
    if (request.refused) return reply.status(request.refused.status).send({ error: request.refused.message });
    const { migrationId } = request.params;
    const action = FORWARDED_ACTIONS.find((a) => a === request.params.action);
    if (!action) return reply.status(404).send({ error: `no action '${request.params.action}': one of ${FORWARDED_ACTIONS.join(', ')}` });
    const body = request.body ?? {};
    if (typeof body !== 'object' || Array.isArray(body)) return reply.status(400).send({ error: 'bad request: the body is the action\'s payload, a JSON object' });
    const claims = request.verified!;
    const migrations = await forwarding<MigrationClient>();
    let handle;
    try {
      handle = await migrations.find(migrationId);
    } catch (err) {
      if (err instanceof UserError) return reply.status(404).send({ error: err.message });
      throw err;
    }
    const status = await migrations.statusOf(handle);
    const tenantId = requiredTenant(action) === 'source' ? status.sourceTenantId : status.targetTenantId;
    if (!tenantId) return reply.status(409).send({ error: `${action} refused: the migration's source tenant is not known yet; try again shortly` });
    if (claims.tenantId !== tenantId) return reply.status(403).send({ error: new OtherTenant(claims, tenantId).message });
    // Who acts is the verified admin, never a name in the body.
    const { actor: _actor, proof: _proof, ...fields } = body as Record<string, unknown>;
    const payload = { ...fields, requestId: typeof fields.requestId === 'string' ? fields.requestId : randomUUID() };
    const proof = sign(action, migrationId, payload, claims);
    const notHanded = await handOver(action, proof, request);
    if (notHanded) return reply.status(409).send({ outcome: 'refused', error: notHanded });
    try {
      const outcome = await migrations.actOn(handle, action as SignalAction, { ...payload, actor: claims.user, proof });
      if (outcome.entry.outcome === 'refused') {
        return reply.status(409).send({ outcome: 'refused', error: outcome.entry.reason ?? `${action} refused`, entry: outcome.entry, status: outcome.status });
      }
      return { outcome: 'accepted', entry: outcome.entry, status: outcome.status };
    } catch (err) {
      if (err instanceof UserError) return reply.status(409).send({ outcome: 'refused', error: err.message });
      throw err;
    }
  });

  // A submit: checked as `t2t submit` checks it (the environment, the submitter's role, eligibility),
  // the source tenant's admin only, the input signed (action 'submit') with the verified admin as
  // submittedBy, and the migration started. The answer: its ids and its first settled status.
  app.post('/v1/migrations', async (request, reply) => {
    const parsed = admitted(request, reply, SubmitRequest);
    if (!parsed) return reply;
    const claims = request.verified!;
    const migrations = await forwarding<MigrationClient>();
    try {
      const plan = await migrations.planSubmission({ ...parsed.data, actor: claims.user }, (sourceTenantId) => {
        if (claims.tenantId !== sourceTenantId) throw new OtherTenant(claims, sourceTenantId);
      });
      const used = await idInUse([plan.migration.migrationId, plan.migration.targetMigrationId]);
      if (used) return reply.status(409).send({ outcome: 'refused', error: used });
      plan.migration.submittedBy = claims.user;
      plan.migration.proof = sign('submit', plan.migration.migrationId, submitProofPayload(plan.migration), claims);
      const notHanded = await handOver('submit', plan.migration.proof, request);
      if (notHanded) return reply.status(409).send({ outcome: 'refused', error: notHanded });
      const status = await migrations.startSubmission(plan);
      return { migrationId: status.migrationId, targetMigrationId: status.targetMigrationId, status };
    } catch (err) {
      if (err instanceof OtherTenant) return reply.status(403).send({ error: err.message });
      if (err instanceof UserError) return reply.status(409).send({ outcome: 'refused', error: err.message });
      throw err;
    }
  });

  // A batch: checked as `t2t batch submit` checks it (the tenants, the submitter's role, each environment's
  // eligibility), the source tenant's admin only, the batch's input signed (action 'submit', migrationId the
  // batch id) with the verified admin as submittedBy, and the batch started. The answer: what was submitted.
  app.post('/v1/batches', async (request, reply) => {
    const parsed = admitted(request, reply, BatchSubmitRequest);
    if (!parsed) return reply;
    const claims = request.verified!;
    const batches = await forwarding(options.batches);
    try {
      const plan = await batches.plan({ ...parsed.data, actor: claims.user }, (sourceTenantId) => {
        if (claims.tenantId !== sourceTenantId) throw new OtherTenant(claims, sourceTenantId);
      });
      plan.batch.submittedBy = claims.user;
      plan.batch.proof = sign('submit', plan.batch.batchId, submitBatchProofPayload(plan.batch), claims);
      return await batches.start(plan);
    } catch (err) {
      if (err instanceof OtherTenant) return reply.status(403).send({ error: err.message });
      if (err instanceof UserError) return reply.status(409).send({ outcome: 'refused', error: err.message });
      throw err;
    }
  });

  // A rehearsal (`t2t rehearse`): checked as `t2t rehearse` checks it (the environment, the admin's role,
  // eligibility), the source tenant's admin only; the mapping put in the rehearsal's container, the input
  // signed (action 'rehearse') with the verified admin as requestedBy, and the rehearsal started. The
  // answer: its workflow id and container, for `t2t` to wait for its report.
  app.post('/v1/rehearsals', { bodyLimit: REHEARSAL_BODY_LIMIT }, async (request, reply) => {
    const parsed = admitted(request, reply, RehearsalRequest);
    if (!parsed) return reply;
    const claims = request.verified!;
    const rehearsals = await forwarding(options.rehearsals);
    const { mapping, ...asked } = parsed.data;
    try {
      const plan = await rehearsals.plan({ ...asked, actor: claims.user }, (sourceTenantId) => {
        if (claims.tenantId !== sourceTenantId) throw new OtherTenant(claims, sourceTenantId);
      });
      await rehearsals.putMapping(plan, Readable.from([Buffer.from(mapping, 'utf8')]));
      plan.input.proof = sign('rehearse', plan.input.rehearsalId, submitRehearsalProofPayload(plan.input), claims);
      await rehearsals.start(plan);
      return { workflowId: plan.workflowId, rehearsalId: plan.input.rehearsalId, storage: plan.input.storage, leftoversRemoved: plan.leftoversRemoved };
    } catch (err) {
      if (err instanceof OtherTenant) return reply.status(403).send({ error: err.message });
      if (err instanceof UserError) return reply.status(409).send({ outcome: 'refused', error: err.message });
      throw err;
    }
  });
  return app;
}
