// On-behalf-of (docs/identity.md, "The Microsoft back end"): for a tenant whose
// admin API refuses app-only tokens (delegatedCalls in the tenants file), the
// gateway exchanges the acting admin's verified token for one of the admin API's
// audience, with Microsoft's OAuth 2.0 on-behalf-of grant through
// @azure/identity's OnBehalfOfCredential, seals it (AES-256-GCM, bound to the
// action and the tenant) and leaves it in the control plane for that action; the
// worker's activity takes it once and calls with it. The token is never logged,
// never in history, never in an error: only sealed at rest, and in memory for
// the one call.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { OnBehalfOfCredential } from '@azure/identity';
import type { DelegatedTokens } from '../controlplane/delegated-tokens';
import { MicrosoftServiceError } from './errors';
import type { TokenSource } from './http';
import type { MicrosoftDelegation, MicrosoftSettings } from './settings';
import { POWER_PLATFORM_SCOPE } from './scopes';
import { signInError } from './tokens';

/** How long a handed-over token waits for its call at most (less when the token itself expires sooner). */
export const DELEGATED_TOKEN_MAX_MS = 10 * 60_000;

/** The actions whose step calls the admin API at once, by their Temporal names (the submit too). */
export const DELEGATED_ACTIONS: ReadonlySet<string> = new Set(['submit', 'approve', 'deny', 'cancel', 'requestStorage', 'prepare', 'migrate']);

const sameTenant = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function takesDelegatedCalls(settings: MicrosoftSettings | undefined, tenantId: string): boolean {
  return settings?.tenants.some((t) => sameTenant(t.tenantId, tenantId) && t.delegatedCalls === true) ?? false;
}

const aad = (actionId: string, tenantId: string) => Buffer.from(`t2t delegated token\n${actionId}\n${tenantId.toLowerCase()}`, 'utf8');

/** iv.tag.ciphertext (base64url), bound to the action and the tenant: a row moved to another action does not open. */
export function sealToken(key: Buffer, token: string, actionId: string, tenantId: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad(actionId, tenantId));
  const sealed = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), sealed].map((b) => b.toString('base64url')).join('.');
}

/** The token, or undefined when the seal does not open (another key, another action or tenant, altered). */
export function openToken(key: Buffer, sealed: string, actionId: string, tenantId: string): string | undefined {
  const [iv, tag, data] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
  if (!iv || !tag || !data || iv.length !== 12 || tag.length !== 16) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv).setAAD(aad(actionId, tenantId));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** The one line an opted-in tenant's action gets when its token is not there. */
export function noDelegatedToken(tenantId: string): string {
  return (
    `tenant ${tenantId} takes the acting admin's own token for this call (delegatedCalls in T2T_MICROSOFT_TENANTS_FILE) ` +
    'and none is waiting for this action (already used, expired, or the action did not come through the gateway): send the action again'
  );
}

/**
 * Microsoft's on-behalf-of exchange, made by the product API's own app (the audience of the admin's
 * token): the admin's token for one of the admin API's audience, in the admin's tenant. Its failures
 * are one-line MicrosoftServiceErrors naming neither the secret nor either token.
 */
export async function exchangeAdminToken(
  settings: Pick<MicrosoftSettings, 'authorityHost' | 'customAuthority'>,
  delegation: MicrosoftDelegation,
  tenantId: string,
  adminToken: string,
): Promise<{ token: string; expiresAt: number }> {
  const common = { tenantId, clientId: delegation.clientId, userAssertionToken: adminToken, authorityHost: settings.authorityHost, disableInstanceDiscovery: settings.customAuthority };
  const credential = delegation.certificatePath
    ? new OnBehalfOfCredential({ ...common, certificatePath: delegation.certificatePath })
    : new OnBehalfOfCredential({ ...common, clientSecret: delegation.clientSecret! });
  const secrets = [adminToken, ...(delegation.clientSecret ? [delegation.clientSecret] : [])];
  let answer;
  try {
    answer = await credential.getToken(POWER_PLATFORM_SCOPE);
  } catch (err) {
    throw await signInError(err, tenantId, settings.authorityHost, secrets);
  }
  if (!answer?.token) throw new MicrosoftServiceError('Microsoft sign-in', 'unauthorized', `Microsoft sign-in issued no on-behalf-of token for tenant ${tenantId}`);
  return { token: answer.token, expiresAt: answer.expiresOnTimestamp };
}

/**
 * The gateway's half: exchanges the admin's token and leaves it, sealed, for the action's call.
 * Expires with the exchanged token, and within DELEGATED_TOKEN_MAX_MS.
 */
export async function handOverAdminToken(
  settings: MicrosoftSettings,
  store: DelegatedTokens,
  handover: { actionId: string; tenantId: string; adminToken: string },
  now = Date.now(),
): Promise<void> {
  const delegation = settings.delegation!;
  const { token, expiresAt } = await exchangeAdminToken(settings, delegation, handover.tenantId, handover.adminToken);
  await store.put({
    actionId: handover.actionId,
    tenantId: handover.tenantId,
    sealed: sealToken(delegation.key, token, handover.actionId, handover.tenantId),
    expiresAt: new Date(Math.min(expiresAt, now + DELEGATED_TOKEN_MAX_MS)),
  });
}

/** The worker's half: the action's token, taken once; a MicrosoftServiceError ('configuration', not retried) with the one line when there is none. */
export async function takeAdminToken(settings: MicrosoftSettings, store: DelegatedTokens, actionId: string | undefined, tenantId: string): Promise<string> {
  const row = actionId ? await store.take(actionId) : undefined;
  const token = row && sameTenant(row.tenantId, tenantId) && settings.delegation ? openToken(settings.delegation.key, row.sealed, actionId!, tenantId) : undefined;
  if (!token) throw new MicrosoftServiceError('Power Platform admin API', 'configuration', noDelegatedToken(tenantId));
  return token;
}

/** The admin's token for the admin API in their tenant; the app's tokens for everything else (Graph, other tenants). */
export function withAdminToken(app: TokenSource, tenantId: string, adminToken: string): TokenSource {
  return {
    token: (asked, scope) => (sameTenant(asked, tenantId) && scope === POWER_PLATFORM_SCOPE ? Promise.resolve(adminToken) : app.token(asked, scope)),
  };
}
