// `t2t`'s actions when sign-in is on (T2T_AUTH=on, the default): submit (also a
// move-back's and a batch's), rehearse, approve, deny, lockbox approval, storage, prepare,
// migrate and cancel go to the action gateway
// with the signed-in admin's token, and the gateway sends them on to the
// migration with its signed proof (docs/identity.md). Light on purpose: node's
// fetch, no Temporal client; the sign-in library loads only here.
import { existsSync, readFileSync } from 'node:fs';
import type { Config, SignInSettings } from '../config';
import type { MigrationStatus } from '../contracts';
import type { SignedIn } from '../identity/sign-in';
import type { ActionOutcome, SignalAction } from './migrations';
import type { BatchSubmission } from './batch-submission';
import type { StorageInfo } from '../contracts';
import { UserError } from './user-error';
import { cachedSignIn } from '../identity/cached-sign-in';

function asOutsideSandbox(settings: SignInSettings): UserError {
  return new UserError(`--as signs a world user in at the sandbox's own identity provider only, and the issuer is ${settings.authority}: sign in with \`t2t login\``);
}

/** In the sandbox only: signs a world user in at the embedded stack's provider, completing the device code as that user. */
export async function signInAs(settings: SignInSettings, upn: string): Promise<SignedIn> {
  if (!settings.sandbox) throw asOutsideSandbox(settings);
  if (!existsSync(settings.sandboxCertificateFile)) throw new UserError('the sandbox identity provider has not run yet: start the stack (npm start)');
  const ca = readFileSync(settings.sandboxCertificateFile, 'utf8');
  const [{ signInWithDeviceCode }, { completeSandboxDeviceCode }] = await Promise.all([import('../identity/sign-in'), import('../identity/sandbox-device-sign-in')]);
  return signInWithDeviceCode(settings, (prompt) => completeSandboxDeviceCode({ verificationUri: prompt.verificationUri, userCode: prompt.userCode, upn, ca })).catch((err: unknown) => {
    throw new UserError((err as Error).message);
  });
}

/**
 * Who acts: with `--as` (or T2T_ADMIN) in the sandbox, that world user, signed in now unless they
 * already are; otherwise the admin signed in with `t2t login`.
 */
export async function actingAdmin(settings: SignInSettings, as: string | undefined): Promise<SignedIn> {
  const upn = as?.trim();
  if (upn && !settings.sandbox) throw asOutsideSandbox(settings);
  // A token the cache holds, good for a while yet, needs no library (cached-sign-in.ts).
  const cached = cachedSignIn(settings);
  if (cached && (!upn || cached.user.toLowerCase() === upn.toLowerCase())) return cached;
  const { currentSignIn } = await import('../identity/sign-in');
  if (upn) {
    const current = await currentSignIn(settings).catch(() => undefined);
    if (current && current.user.toLowerCase() === upn.toLowerCase()) return current;
    return signInAs(settings, upn);
  }
  return currentSignIn(settings).catch((err: unknown) => {
    if (err instanceof Error && err.name === 'SignInError') throw new UserError(err.message);
    throw err;
  });
}

interface GatewayAnswer extends Partial<BatchSubmission> {
  error?: string;
  /** POST /v1/proofs: the gateway's proof */
  proof?: unknown;
  entry?: ActionOutcome['entry'];
  status?: MigrationStatus;
}

/**
 * One JSON request to the gateway, with node's http(s) module: fetch's implementation (undici) cost
 * a signed-in action as much CPU as the rest of its start.
 */
async function post(config: Pick<Config, 'signIn'>, token: string, path: string, body: unknown): Promise<{ code: number; answer: GatewayAnswer }> {
  const url = new URL(`${config.signIn.gatewayUrl}${path}`);
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          let answer: GatewayAnswer = {};
          try {
            answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as GatewayAnswer;
          } catch {
            // no JSON: the status alone says what happened (refusal below)
          }
          resolve({ code: res.statusCode ?? 0, answer });
        });
      },
    );
    // As long as fetch waited for an answer's headers (undici's headersTimeout).
    req.setTimeout(300_000, () => req.destroy(new UserError(`the action gateway at ${config.signIn.gatewayUrl} did not answer within 300s`)));
    req.on('error', (err) => reject(err instanceof UserError ? err : new UserError(`cannot reach the action gateway at ${config.signIn.gatewayUrl}: is the stack running? (npm start)`)));
    req.end(data);
  });
}

/** The gateway's refusal as the admin's one line: the migration's own words, or the gateway's. */
function refusal(code: number, answer: GatewayAnswer): UserError {
  if (code === 404 || code === 409) return new UserError(answer.error ?? `refused (${code})`);
  if (code >= 400 && code < 500) return new UserError(`the action gateway refused: ${answer.error ?? `status ${code}`}`);
  return new UserError(`the action gateway failed (${code}): ${answer.error ?? 'no answer'}`);
}

/** `t2t sign`: the gateway's proof of an action for the signed-in admin (POST /v1/proofs); any refusal is one line. */
export async function gatewayProof(config: Pick<Config, 'signIn'>, token: string, request: { action: string; migrationId: string; payload: Record<string, unknown> }): Promise<unknown> {
  const { code, answer } = await post(config, token, '/v1/proofs', request);
  if (code < 200 || code >= 300 || !answer.proof) throw new UserError(`the action gateway refused: ${answer.error ?? `status ${code}`}`);
  return answer.proof;
}

/** An action on a migration (its source or target id), answered with the workflow's outcome: accepted, or refused with the reason. */
export async function gatewayAct(
  config: Pick<Config, 'signIn'>,
  as: string | undefined,
  migrationId: string,
  action: SignalAction,
  payload: Record<string, unknown>,
): Promise<ActionOutcome> {
  const who = await actingAdmin(config.signIn, as);
  const { code, answer } = await post(config, who.accessToken, `/v1/migrations/${encodeURIComponent(migrationId)}/actions/${action}`, payload);
  if ((code === 200 || code === 409) && answer.entry && answer.status) return { entry: answer.entry, status: answer.status };
  throw refusal(code, answer);
}

/** A submit (a move-back's names the migration it reverses), answered with the migration's first settled status. */
export async function gatewaySubmit(
  config: Config,
  as: string | undefined,
  request: { environmentId: string; targetTenantId: string; reversesMigrationId?: string },
): Promise<MigrationStatus> {
  const who = await actingAdmin(config.signIn, as);
  const { code, answer } = await post(config, who.accessToken, '/v1/migrations', request);
  if (code === 200 && answer.status) return answer.status;
  throw refusal(code, answer);
}

/** A batch submit, answered with the batch's id, its migrations' ids and the environments left out. */
export async function gatewayBatch(
  config: Config,
  as: string | undefined,
  request: { sourceTenantId: string; targetTenantId: string; environmentIds?: string[]; concurrency: number },
): Promise<BatchSubmission> {
  const who = await actingAdmin(config.signIn, as);
  const { code, answer } = await post(config, who.accessToken, '/v1/batches', request);
  if (code === 200 && answer.batchId && answer.environments && answer.skipped) return { batchId: answer.batchId, environments: answer.environments, skipped: answer.skipped };
  throw refusal(code, answer);
}

/** A rehearsal's start (the mapping file's text in the request), answered with its workflow id and container. */
export async function gatewayRehearse(
  config: Config,
  as: string | undefined,
  request: { environmentId: string; targetTenantId: string; mapping: string },
): Promise<{ workflowId: string; storage: StorageInfo; leftoversRemoved: string[] }> {
  const who = await actingAdmin(config.signIn, as);
  const { code, answer } = await post(config, who.accessToken, '/v1/rehearsals', request);
  const started = answer as GatewayAnswer & { workflowId?: string; storage?: StorageInfo; leftoversRemoved?: string[] };
  if (code === 200 && started.workflowId && started.storage) return { workflowId: started.workflowId, storage: started.storage, leftoversRemoved: started.leftoversRemoved ?? [] };
  throw refusal(code, answer);
}
