// A stand-in for Microsoft's three services (sign-in, the Power Platform admin
// API, Microsoft Graph) in one local HTTPS server, with the state a tenant-to-
// tenant migration walks through, so the product's real HTTP and MSAL code
// runs against it. HTTPS with its own CA because the product only speaks
// https; the CA is trusted in-process with trustFakeCa or in a child process
// with NODE_EXTRA_CA_CERTS=caPath.
import crypto, { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { MicrosoftSettings, MicrosoftTenantCredential } from '../../src/microsoft/settings';
import { createGraphRoutes } from './graph-routes';
import { loadX509 } from '../../src/identity/sandbox-tls';

// ---------------------------------------------------------------- certificates

// @peculiar/x509 loads as the sandbox's identity provider loads it (Reflect metadata stand-in, Node's WebCrypto).

const DAY_MS = 24 * 60 * 60 * 1000;
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const RSA = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const x509 = await loadX509();
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A CA and a certificate for 127.0.0.1 and localhost that it signed, all PEM. */
async function createServerCertificates(): Promise<{ ca: string; cert: string; key: string }> {
  const x509 = await loadX509();
  const validity = { notBefore: new Date(Date.now() - DAY_MS), notAfter: new Date(Date.now() + 7 * DAY_MS) };
  const caKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=t2t Microsoft fakes CA',
    keys: caKeys,
    ...validity,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const serverKeys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const server = await x509.X509CertificateGenerator.create({
    subject: 'CN=127.0.0.1',
    issuer: ca.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    ...validity,
    extensions: [
      new x509.BasicConstraintsExtension(false),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  return { ca: ca.toString('pem'), cert: server.toString('pem'), key: await privateKeyPem(serverKeys.privateKey) };
}

export interface AppCertificate {
  certificatePem: string;
  privateKeyPem: string;
  /** certificate and key in one PEM: what a tenants file's certificatePath points at */
  pem: string;
}

/** A self-signed RSA certificate for an app registration's certificate credential. */
export async function createAppCertificate(name = 'CN=t2t test app'): Promise<AppCertificate> {
  const x509 = await loadX509();
  const keys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 7 * DAY_MS),
  });
  const certificatePem = cert.toString('pem');
  const key = await privateKeyPem(keys.privateKey);
  return { certificatePem, privateKeyPem: key, pem: `${certificatePem}\n${key}\n` };
}

// ---------------------------------------------------------------- trust in this process

const trustedCas = new Set<string>();
let trustInstalled = false;

/**
 * Makes this process's TLS clients (fetch, and node:https which @azure/identity
 * uses) trust `ca`, as NODE_EXTRA_CA_CERTS would at start. Node 20 has no
 * tls.setDefaultCACertificates and undici is not a package here, but both
 * clients build their contexts through tls.createSecureContext: every context
 * made without an explicit `ca` gets the fake CA added to its (copied) default
 * store. Returns a function that stops trusting it.
 */
export function trustFakeCa(ca: string): () => void {
  trustedCas.add(ca);
  if (!trustInstalled) {
    trustInstalled = true;
    const original = tls.createSecureContext;
    const withFakeCas: typeof tls.createSecureContext = (options) => {
      const context = original(options);
      if (options?.ca === undefined) {
        for (const pem of trustedCas) (context as unknown as { context: { addCACert(pem: string): void } }).context.addCACert(pem);
      }
      return context;
    };
    (tls as { createSecureContext: typeof tls.createSecureContext }).createSecureContext = withFakeCas;
  }
  return () => void trustedCas.delete(ca);
}

// ---------------------------------------------------------------- options and state

// The audience the admin API accepts, trailing slash included: the module's RestClientModule
// (Get-AudienceForHostName) maps api.bap.microsoft.com to "https://service.powerapps.com/", and Learn's
// programmability-authentication page asks for the scope https://service.powerapps.com//.default. A
// token for the audience without the slash is refused (a third-party note quotes BAP: the audience
// "should exactly match (including forward slash)"), as it is here.
export const FAKE_POWER_PLATFORM_AUDIENCE = 'https://service.powerapps.com/';
export const FAKE_GRAPH_AUDIENCE = 'https://graph.microsoft.com';
const API = '/providers/Microsoft.BusinessAppPlatform';
const API_VERSION = '2021-04-01';

export interface FakeApp {
  tenantId: string;
  clientId: string;
  clientSecret?: string;
  /** the certificate (PEM) whose private key signs the app's client assertions */
  certificatePem?: string;
  /** a public client: signs people in with the device-code flow */
  publicClient?: boolean;
  /** what createdBy and approvalActionedBy show for the app; the client id by default */
  displayName?: string;
  /** false: signed in, but not a Power Platform management app, so every Power Platform call gets 403 */
  powerPlatformAdmin?: boolean;
  /**
   * a web API (its Application ID URI, e.g. api://t2t): tokens for this audience are users' tokens
   * for this app, which it may exchange on-behalf-of (the product API's registration, consented here)
   */
  api?: string;
}

/** Who a user's token names, as the fake reads an assertion it did not issue itself (see userAssertion). */
export interface UserAssertion {
  tenantId: string;
  user: string;
  audience: string;
}

/**
 * Who created or acted on a request, as the module's TenantToTenant-ViewMigrationRequest reads it
 * (`$_.createdBy.id`, `$_.createdBy.type`, `$_.approvalActionedBy.id`, `.type`): an object. The type
 * words ("User", "ServicePrincipal") are a guess; no public source prints them.
 */
export interface FakePrincipal {
  id: string;
  type: 'User' | 'ServicePrincipal';
}

export interface FakeEnvironment {
  id: string;
  name?: string;
  organizationId?: string;
  /** Production (default), Sandbox, Developer, Trial, Default, Teams */
  environmentSku?: string;
  /** a Managed Environment (protection level Standard) */
  managed?: boolean;
}

export interface FakeTenant {
  tenantId: string;
  environments?: FakeEnvironment[];
}

export interface OperationBehaviour {
  /** how many polls answer Running before the outcome */
  runningPolls: number;
  outcome: 'Succeeded' | 'Failed';
  /** the service's error message when the outcome is Failed */
  failureMessage: string;
  /** Retry-After (seconds) on the 202 and on every Running answer; none when undefined */
  retryAfterSeconds?: number;
  /** how prepare/migrate answer: 202 with one of the two headers, or 200 done at once */
  answer: 'operation-location' | 'location' | 'done';
  /**
   * How a poll names the operation's state. 'lifecycle' (the default): `state: { id }`, as the module's
   * WaitUntilFinished ($content.state.id) and the Terraform provider's LifecycleDto (State.Id) read it;
   * 'status-string': the older `status: 'Running'` shape; 'no-state': no state at all (a service change).
   */
  stateShape: 'lifecycle' | 'status-string' | 'no-state';
  /**
   * 'fails': the prepare operation ends Succeeded and the migration's status (/get) then says
   * "Validation Failed, Errors are updated on the blob here: <SAS URL>", as the article's
   * TenantToTenant-GetMigrationStatus sample shows; whether the operation itself would end Failed
   * is not documented.
   */
  validation: 'passes' | 'fails';
}

export type CreateAnswerShape = 'id' | 'migrationId' | 'name' | 'properties' | 'empty';

type GraphState = Parameters<typeof createGraphRoutes>[0];

export interface MicrosoftFakesOptions {
  tenants: FakeTenant[];
  apps: FakeApp[];
  /** items per page of the two lists; 50 by default */
  pageSize?: number;
  operations?: Partial<OperationBehaviour>;
  /** the container SAS URL generateTenantToTenantResourceStorage hands out (e.g. an Azurite container's) */
  storageSas?: (tenantId: string, environmentId: string) => string | Promise<string>;
  /** where createt2t's answer puts the new request's id ('empty': no body at all) */
  createAnswer?: CreateAnswerShape;
  tokenLifetimeSeconds?: number;
  /** passed to createGraphRoutes; also where users' principal ids come from */
  graph?: GraphState;
  /**
   * false: the tenant-to-tenant calls refuse app-only tokens (403), wanting a signed-in admin as every
   * Microsoft client signs one in (Add-PowerAppsAccount). Whether the real service accepts app-only
   * tokens there is not known; true (accepted) by default. The error's words are a guess.
   */
  appOnlyTenantToTenant?: boolean;
  /**
   * Users' tokens from another issuer standing in for Entra ID's sign-in (the sandbox provider): what
   * they name, or undefined when they are not valid. The on-behalf-of grant takes these as well as
   * the users' tokens the fake issued itself.
   */
  userAssertion?: (token: string) => Promise<UserAssertion | undefined>;
}

export type ApprovalStatus = 'Pending' | 'Approved' | 'Rejected';
export type MigrationStage = 'Requested' | 'Preparing' | 'Prepared' | 'ValidationFailed' | 'Migrating' | 'Migrated' | 'Failed';

export interface FakeMigrationRequest {
  id: string;
  approvalId: string;
  sourceTenantId: string;
  targetTenantId: string;
  environmentId: string;
  environmentName: string;
  organizationId: string;
  createdOnTime: string;
  createdBy: FakePrincipal;
  approvalStatus: ApprovalStatus;
  approvalActionedBy?: FakePrincipal;
  stage: MigrationStage;
  lastError?: string;
  /** the error report link /get gives after a failed validation */
  validationErrors?: string;
  /** what prepare was last given */
  prepareBody?: unknown;
  migrateBody?: unknown;
}

export interface FakeLogEntry {
  service: 'sign-in' | 'power-platform' | 'graph' | 'unknown';
  method: string;
  /** the path after the service's base URL, without the query */
  path: string;
  /** from the bearer token, or from the path for sign-in */
  tenantId?: string;
  status: number;
}

export interface Fault {
  status: number;
  retryAfterSeconds?: number;
  /** how many matching requests get it; 1 by default */
  times?: number;
  /** the answer's body instead of an error body (also for a 200 with a crafted body) */
  body?: unknown;
  headers?: Record<string, string>;
}

interface AccessToken {
  tenantId: string;
  clientId: string;
  audience: string;
  /** who the service records as acting: the user for device-code sign-in, else the app */
  actor: FakePrincipal;
  /** a user signed in (device code, on-behalf-of), not the app on its own */
  delegated?: boolean;
  /** the signed-in user's name, for a delegated token */
  user?: string;
  expiresAt: number;
}

interface Operation {
  id: string;
  tenantId: string;
  migrationId: string;
  kind: 'prepare' | 'migrate';
  polls: number;
  behaviour: OperationBehaviour;
  createdAt: string;
}

interface DeviceCode {
  tenantId: string;
  clientId: string;
  userCode: string;
  user?: string;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

interface Incoming {
  method: string;
  /** the path after the service prefix */
  path: string;
  url: URL;
  body: unknown;
}

const DEFAULT_BEHAVIOUR: OperationBehaviour = {
  runningPolls: 2,
  outcome: 'Succeeded',
  failureMessage: 'The environment could not be migrated: the target tenant has no capacity',
  answer: 'operation-location',
  stateShape: 'lifecycle',
  validation: 'passes',
};

class FakeState {
  readonly tenants = new Map<string, { tenantId: string; environments: Map<string, Required<FakeEnvironment>> }>();
  readonly apps: FakeApp[];
  readonly tokens = new Map<string, AccessToken>();
  readonly refreshTokens = new Map<string, Omit<AccessToken, 'audience' | 'expiresAt'> & { user?: string }>();
  readonly deviceCodes = new Map<string, DeviceCode>();
  readonly tokenRequests = new Map<string, number>();
  oboExchanges = 0;
  readonly requests = new Map<string, FakeMigrationRequest>();
  readonly operations = new Map<string, Operation>();
  readonly faults: Array<{ pattern: string | RegExp; fault: Fault; left: number }> = [];
  readonly log: FakeLogEntry[] = [];
  /** tenants whose tenant-to-tenant calls refuse app-only tokens (see MicrosoftFakes.setAppOnlyTenantToTenant) */
  readonly appOnlyRefused = new Set<string>();
  /** every admin API call: which tenant, and who the token named (app or user) */
  readonly callers: Array<{ method: string; path: string; tenantId: string; delegated: boolean; actor: FakePrincipal; token: string }> = [];
  behaviour: OperationBehaviour;

  readonly options: MicrosoftFakesOptions;

  constructor(options: MicrosoftFakesOptions) {
    this.options = { ...options };
    this.apps = [...options.apps];
    for (const tenant of options.tenants) {
      this.tenants.set(tenant.tenantId.toLowerCase(), { tenantId: tenant.tenantId, environments: new Map() });
      for (const env of tenant.environments ?? []) this.addEnvironment(tenant.tenantId, env);
    }
    this.behaviour = { ...DEFAULT_BEHAVIOUR, ...options.operations };
  }

  tenant(tenantId: string) {
    return this.tenants.get(tenantId.toLowerCase());
  }

  addEnvironment(tenantId: string, env: FakeEnvironment): void {
    const tenant = this.tenant(tenantId);
    if (!tenant) throw new Error(`the fake has no tenant ${tenantId}`);
    tenant.environments.set(env.id.toLowerCase(), {
      id: env.id,
      name: env.name ?? env.id,
      organizationId: env.organizationId ?? crypto.randomUUID(),
      environmentSku: env.environmentSku ?? 'Production',
      managed: env.managed ?? false,
    });
  }

  /** the tenant holding the environment now, if any */
  environmentOwner(environmentId: string) {
    for (const tenant of this.tenants.values()) {
      const env = tenant.environments.get(environmentId.toLowerCase());
      if (env) return { tenant, env };
    }
    return undefined;
  }

  app(tenantId: string, clientId: string): FakeApp | undefined {
    return this.apps.find((a) => a.tenantId.toLowerCase() === tenantId.toLowerCase() && a.clientId === clientId);
  }

  findRequest(idOrApprovalId: string): FakeMigrationRequest | undefined {
    const key = idOrApprovalId.toLowerCase();
    for (const r of this.requests.values()) if (r.id.toLowerCase() === key || r.approvalId.toLowerCase() === key) return r;
    return undefined;
  }

  /** A directory object's id: a user's Graph id when the Graph fake knows the user, else one derived from the name. */
  principal(tenantId: string, name: string, type: FakePrincipal['type']): FakePrincipal {
    const known = type === 'User' ? this.options.graph?.user(tenantId, name)?.id : undefined;
    return { id: known ?? guidFrom(`${tenantId}/${type}/${name}`), type };
  }

  takeFault(method: string, path: string): Fault | undefined {
    const key = `${method} ${path}`;
    const index = this.faults.findIndex((f) => (typeof f.pattern === 'string' ? key.includes(f.pattern) : f.pattern.test(key)));
    if (index < 0) return undefined;
    const entry = this.faults[index];
    if (--entry.left <= 0) this.faults.splice(index, 1);
    return entry.fault;
  }
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');
const guidFrom = (text: string) =>
  crypto.createHash('sha256').update(text).digest('hex').slice(0, 32).replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5');
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
const oauthError = (status: number, error: string, description: string): Reply => ({
  status,
  body: { error, error_description: description, error_codes: [Number(/AADSTS(\d+)/.exec(description)?.[1] ?? 0)], timestamp: new Date().toISOString() },
});
const apiError = (status: number, code: string, message: string): Reply => ({ status, body: { error: { code, message } } });

// ---------------------------------------------------------------- sign-in

/** The resource a scope list asks for: `https://graph.microsoft.com/.default` → `https://graph.microsoft.com`. */
function audienceOf(scope: string): string | undefined {
  const resource = scope.split(/\s+/).find((s) => /^https?:\/\//.test(s));
  return resource?.replace(/\/[^/]*$/, '');
}

/**
 * A JWT as Entra ID issues them (header.payload.signature; the claims aud, iss, tid, and appid or oid);
 * the fake looks it up in its table rather than verifying the signature, which is random.
 */
function accessTokenFor(grant: Omit<AccessToken, 'expiresAt' | 'audience'>, audience: string, expiresAt: number): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    aud: audience,
    iss: `https://sts.windows.net/${grant.tenantId}/`,
    tid: grant.tenantId,
    iat: now,
    nbf: now,
    exp: Math.floor(expiresAt / 1000),
    appid: grant.clientId,
    ...(grant.delegated ? { oid: grant.actor.id, scp: 'user_impersonation', ...(grant.user ? { upn: grant.user } : {}) } : { oid: grant.actor.id, idtyp: 'app' }),
  };
  return `${base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid: 'fake' }))}.${base64url(JSON.stringify(claims))}.${base64url(crypto.randomBytes(32))}`;
}

function issueAccessToken(state: FakeState, grant: Omit<AccessToken, 'expiresAt' | 'audience'>, scope: string): Reply {
  const audience = audienceOf(scope);
  if (!audience) return oauthError(400, 'invalid_scope', `AADSTS1002012: The provided value for scope ${scope} is not valid.`);
  const lifetime = state.options.tokenLifetimeSeconds ?? 3600;
  const accessToken = accessTokenFor(grant, audience, Date.now() + lifetime * 1000);
  state.tokens.set(accessToken, { ...grant, audience, expiresAt: Date.now() + lifetime * 1000 });
  return { status: 200, body: { token_type: 'Bearer', access_token: accessToken, expires_in: lifetime, ext_expires_in: lifetime, scope } };
}

/** Checks an RFC 7523 client assertion the way Entra ID does: thumbprint of a registered certificate, signature, audience, issuer, expiry. */
function assertionProblem(assertion: string, app: FakeApp, tokenEndpoint: string): string | undefined {
  if (!app.certificatePem) return 'AADSTS700027: The app has no certificate registered.';
  const [h, p, s] = assertion.split('.');
  if (!h || !p || !s) return 'AADSTS50027: Invalid JWT token. Token format not valid.';
  let header: Record<string, string>;
  let payload: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  } catch {
    return 'AADSTS50027: Invalid JWT token. Token format not valid.';
  }
  const cert = new crypto.X509Certificate(app.certificatePem);
  const thumbprints = [base64url(crypto.createHash('sha256').update(cert.raw).digest()), base64url(crypto.createHash('sha1').update(cert.raw).digest())];
  if (!thumbprints.includes(header['x5t#S256'] ?? header.x5t ?? '')) return 'AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.';
  const padding = header.alg === 'PS256' ? crypto.constants.RSA_PKCS1_PSS_PADDING : header.alg === 'RS256' ? crypto.constants.RSA_PKCS1_PADDING : undefined;
  if (padding === undefined) return `AADSTS5002738: Invalid JWT token. '${header.alg}' is not a supported signature algorithm.`;
  const signed = crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: cert.publicKey, padding, saltLength: crypto.constants.RSA_PSS_SALTLEN_AUTO }, Buffer.from(s, 'base64url'));
  if (!signed) return 'AADSTS700027: Client assertion contains an invalid signature.';
  if (payload.aud !== tokenEndpoint) return `AADSTS700212: No matching federated identity record found for presented assertion audience '${String(payload.aud)}'.`;
  if (payload.iss !== app.clientId || payload.sub !== app.clientId) return 'AADSTS700023: Client assertion audience claim does not match Realm issuer.';
  if (typeof payload.exp !== 'number' || payload.exp * 1000 < Date.now()) return 'AADSTS700024: Client assertion is not within its valid time range.';
  return undefined;
}

function clientCredentials(state: FakeState, tenantId: string, form: URLSearchParams, tokenEndpoint: string): Reply {
  const clientId = form.get('client_id') ?? '';
  const app = state.app(tenantId, clientId);
  if (!app) return oauthError(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`);
  const secret = form.get('client_secret');
  const assertion = form.get('client_assertion');
  if (secret !== null) {
    if (!app.clientSecret || secret !== app.clientSecret) return oauthError(401, 'invalid_client', `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`);
  } else if (assertion !== null) {
    const problem = assertionProblem(assertion, app, tokenEndpoint);
    if (problem) return oauthError(401, 'invalid_client', problem);
  } else {
    return oauthError(401, 'invalid_client', "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  }
  return issueAccessToken(state, { tenantId, clientId, actor: state.principal(tenantId, app.displayName ?? clientId, 'ServicePrincipal') }, form.get('scope') ?? '');
}

/**
 * Microsoft's on-behalf-of grant, as Learn's "Microsoft identity platform and OAuth 2.0 On-Behalf-Of flow"
 * (learn.microsoft.com/entra/identity-platform/v2-oauth2-on-behalf-of-flow, formerly
 * docs.microsoft.com/azure/active-directory/develop/v2-oauth2-on-behalf-of-flow) and MS-OAPX 3.1.5.2.1.1
 * (learn.microsoft.com/openspecs/windows_protocols/ms-oapx/7d11b6f5-84ac-4989-bf9c-16d7504b5b94) give it:
 * POST /{tenant}/oauth2/v2.0/token with grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer,
 * requested_token_use=on_behalf_of, client_id with client_secret (or client_assertion), assertion=<the
 * user's token for the middle tier> and scope=<downstream>/.default. The assertion must be a user's
 * token whose audience is the calling app's own API (AADSTS50013 otherwise), and the answer is a
 * delegated token for the same user. The AADSTS numbers of the fake's refusals follow Entra ID's
 * error list where it has one (50013: assertion audience; 50027: invalid JWT); the wording is the fake's.
 */
async function onBehalfOf(state: FakeState, tenantId: string, form: URLSearchParams, tokenEndpoint: string): Promise<Reply> {
  const clientId = form.get('client_id') ?? '';
  const app = state.app(tenantId, clientId);
  if (!app) return oauthError(400, 'unauthorized_client', `AADSTS700016: Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`);
  if (form.get('requested_token_use') !== 'on_behalf_of') {
    return oauthError(400, 'invalid_request', "AADSTS900144: The request body must contain the following parameter: 'requested_token_use' (on_behalf_of).");
  }
  const secret = form.get('client_secret');
  const clientAssertion = form.get('client_assertion');
  if (secret !== null) {
    if (!app.clientSecret || secret !== app.clientSecret) return oauthError(401, 'invalid_client', `AADSTS7000215: Invalid client secret provided for app '${clientId}'.`);
  } else if (clientAssertion !== null) {
    const problem = assertionProblem(clientAssertion, app, tokenEndpoint);
    if (problem) return oauthError(401, 'invalid_client', problem);
  } else {
    return oauthError(401, 'invalid_client', "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  }
  const assertion = form.get('assertion') ?? '';
  const own = state.tokens.get(assertion);
  let user: UserAssertion | undefined;
  if (own) {
    user = own.delegated && own.expiresAt > Date.now() ? { tenantId: own.tenantId, user: own.user ?? own.actor.id, audience: own.audience } : undefined;
  } else {
    user = await state.options.userAssertion?.(assertion).catch(() => undefined);
  }
  if (!user) return oauthError(400, 'invalid_grant', 'AADSTS50027: JWT token is invalid or malformed.');
  if (!app.api || (user.audience !== app.api && user.audience !== app.clientId)) {
    return oauthError(400, 'invalid_grant', `AADSTS50013: Assertion failed signature validation or its audience '${user.audience}' is not the app '${clientId}'.`);
  }
  if (!same(user.tenantId, tenantId)) return oauthError(400, 'invalid_grant', `AADSTS50020: The user's token is for tenant '${user.tenantId}', not '${tenantId}'.`);
  state.oboExchanges += 1;
  return issueAccessToken(state, { tenantId, clientId, actor: state.principal(tenantId, user.user, 'User'), delegated: true, user: user.user }, form.get('scope') ?? '');
}

function idToken(authority: string, tenantId: string, clientId: string, user: string): { id_token: string; client_info: string } {
  const oid = crypto.createHash('sha256').update(`${tenantId}/${user}`).digest('hex').slice(0, 32).replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5');
  const now = Math.floor(Date.now() / 1000);
  const claims = { aud: clientId, iss: `${authority}/${tenantId}/v2.0`, tid: tenantId, oid, sub: oid, preferred_username: user, name: user, iat: now, nbf: now, exp: now + 3600, ver: '2.0' };
  return {
    id_token: `${base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}.`,
    client_info: base64url(JSON.stringify({ uid: oid, utid: tenantId })),
  };
}

function userTokens(state: FakeState, authority: string, grant: Omit<AccessToken, 'audience' | 'expiresAt'> & { user?: string }, scope: string): Reply {
  const reply = issueAccessToken(state, grant, scope);
  if (reply.status !== 200) return reply;
  const refreshToken = `fake-rt-${crypto.randomBytes(24).toString('hex')}`;
  state.refreshTokens.set(refreshToken, grant);
  return { status: 200, body: { ...(reply.body as object), refresh_token: refreshToken, ...idToken(authority, grant.tenantId, grant.clientId, grant.user ?? grant.actor.id) } };
}

function deviceCodeGrant(state: FakeState, authority: string, form: URLSearchParams): Reply {
  const entry = state.deviceCodes.get(form.get('device_code') ?? '');
  if (!entry) return oauthError(400, 'expired_token', 'AADSTS70020: The provided value for the input parameter device_code is not valid or has expired.');
  if (!entry.user) return oauthError(400, 'authorization_pending', 'AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.');
  state.deviceCodes.delete(form.get('device_code')!);
  return userTokens(
    state,
    authority,
    { tenantId: entry.tenantId, clientId: entry.clientId, actor: state.principal(entry.tenantId, entry.user, 'User'), delegated: true, user: entry.user },
    form.get('scope') ?? '',
  );
}

function refreshGrant(state: FakeState, authority: string, tenantId: string, form: URLSearchParams): Reply {
  const grant = state.refreshTokens.get(form.get('refresh_token') ?? '');
  if (!grant || !same(grant.tenantId, tenantId)) return oauthError(400, 'invalid_grant', 'AADSTS9002313: Invalid request. Request is malformed or invalid.');
  return userTokens(state, authority, grant, form.get('scope') ?? '');
}

function startDeviceCode(state: FakeState, authority: string, tenantId: string, form: URLSearchParams): Reply {
  const clientId = form.get('client_id') ?? '';
  const app = state.app(tenantId, clientId);
  if (!app?.publicClient) return oauthError(400, 'unauthorized_client', `AADSTS7000218: Application '${clientId}' is not a public client in the directory '${tenantId}'.`);
  const deviceCode = crypto.randomBytes(24).toString('hex');
  const userCode = crypto.randomBytes(4).toString('hex').toUpperCase();
  state.deviceCodes.set(deviceCode, { tenantId, clientId, userCode });
  const verificationUri = `${authority}/device`;
  return {
    status: 200,
    body: {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: verificationUri,
      expires_in: 900,
      interval: 1,
      message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${userCode} to authenticate.`,
    },
  };
}

async function signIn(state: FakeState, authority: string, req: Incoming): Promise<Reply> {
  const m = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token|oauth2\/v2\.0\/devicecode)$/.exec(req.path);
  if (!m) return oauthError(404, 'not_found', `AADSTS90000: no sign-in route ${req.method} ${req.path}`);
  const tenantId = decodeURIComponent(m[1]);
  const tenant = state.tenant(tenantId);
  if (!tenant) return oauthError(400, 'invalid_tenant', `AADSTS90002: Tenant '${tenantId}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
  const here = `${authority}/${tenant.tenantId}`;
  if (m[2].endsWith('openid-configuration')) {
    if (req.method !== 'GET') return oauthError(405, 'invalid_request', 'use GET');
    return {
      status: 200,
      body: {
        issuer: `${here}/v2.0`,
        token_endpoint: `${here}/oauth2/v2.0/token`,
        authorization_endpoint: `${here}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${here}/oauth2/v2.0/devicecode`,
        end_session_endpoint: `${here}/oauth2/v2.0/logout`,
        jwks_uri: `${here}/discovery/v2.0/keys`,
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      },
    };
  }
  if (req.method !== 'POST') return oauthError(405, 'invalid_request', 'use POST');
  const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
  if (m[2].endsWith('devicecode')) return startDeviceCode(state, authority, tenant.tenantId, form);
  state.tokenRequests.set(tenant.tenantId.toLowerCase(), (state.tokenRequests.get(tenant.tenantId.toLowerCase()) ?? 0) + 1);
  switch (form.get('grant_type')) {
    case 'client_credentials':
      return clientCredentials(state, tenant.tenantId, form, `${here}/oauth2/v2.0/token`);
    case 'urn:ietf:params:oauth:grant-type:device_code':
    case 'device_code':
      return deviceCodeGrant(state, authority, form);
    case 'refresh_token':
      return refreshGrant(state, authority, tenant.tenantId, form);
    case 'urn:ietf:params:oauth:grant-type:jwt-bearer':
      return onBehalfOf(state, tenant.tenantId, form, `${here}/oauth2/v2.0/token`);
    default:
      return oauthError(400, 'unsupported_grant_type', `AADSTS70003: The app requested an unsupported grant type '${form.get('grant_type')}'.`);
  }
}

// ---------------------------------------------------------------- bearer tokens

interface Caller extends AccessToken {
  app?: FakeApp;
}

function authenticate(state: FakeState, headers: IncomingMessage['headers'], audience: string): Caller | Reply {
  const m = /^Bearer (.+)$/i.exec(headers.authorization ?? '');
  const token = m ? state.tokens.get(m[1]) : undefined;
  if (!token) return apiError(401, 'InvalidAuthenticationToken', m ? 'The access token is not valid.' : 'The request has no bearer token.');
  if (token.expiresAt < Date.now()) return apiError(401, 'ExpiredAuthenticationToken', 'The access token has expired.');
  if (token.audience !== audience) return apiError(401, 'InvalidAuthenticationTokenAudience', `The access token has the wrong audience '${token.audience}'; expected '${audience}'.`);
  return { ...token, app: state.app(token.tenantId, token.clientId) };
}

const isReply = (x: Caller | Reply): x is Reply => 'status' in x;

// ---------------------------------------------------------------- Power Platform

interface PowerPlatformContext {
  state: FakeState;
  caller: Caller;
  req: Incoming;
  params: string[];
  baseUrl: string;
}

type Handler = (ctx: PowerPlatformContext) => Reply | Promise<Reply>;

function requestItem(r: FakeMigrationRequest) {
  return {
    id: r.id,
    environmentId: r.environmentId,
    targetTenantId: r.targetTenantId,
    createdOnTime: r.createdOnTime,
    createdBy: { ...r.createdBy },
    approvalActionedBy: r.approvalActionedBy ? { ...r.approvalActionedBy } : null,
    approvalStatus: r.approvalStatus,
  };
}

function approvalItem(r: FakeMigrationRequest) {
  return {
    id: r.approvalId,
    tenantId: r.targetTenantId,
    createdBy: { ...r.createdBy },
    resourceCreatedTime: r.createdOnTime,
    approvalState: r.approvalStatus,
    sourceMigrationId: r.id,
    environmentName: r.environmentName,
    organizationId: r.organizationId,
  };
}

function page(ctx: PowerPlatformContext, items: unknown[]): Reply {
  const size = ctx.state.options.pageSize ?? 50;
  const skip = Number(ctx.req.url.searchParams.get('$skiptoken') ?? 0) || 0;
  const body: Record<string, unknown> = { value: items.slice(skip, skip + size) };
  if (skip + size < items.length) {
    body.nextLink = `${ctx.baseUrl}${ctx.req.path}?api-version=${API_VERSION}&$skiptoken=${skip + size}`;
  }
  return { status: 200, body };
}

/**
 * The migration request the caller may act on as its source tenant: 400 when unknown (a third-party
 * spec built from recorded admin-center traffic says the t2tmigrations calls answer an unknown
 * migration with 400, not 404; a guess as to the words), 403 when another tenant's.
 */
function ownRequest(ctx: PowerPlatformContext): FakeMigrationRequest | Reply {
  const request = ctx.state.requests.get(ctx.params[0].toLowerCase());
  if (!request) return apiError(400, 'InvalidMigrationId', `The tenant-to-tenant migration ${ctx.params[0]} is not valid.`);
  if (!same(request.sourceTenantId, ctx.caller.tenantId)) return apiError(403, 'Forbidden', `The caller's tenant ${ctx.caller.tenantId} is not the source tenant of migration ${request.id}.`);
  return request;
}

function ownEnvironment(ctx: PowerPlatformContext) {
  const found = ctx.state.environmentOwner(ctx.params[0]);
  if (!found) return apiError(404, 'EnvironmentNotFound', `No environment ${ctx.params[0]}.`);
  if (!same(found.tenant.tenantId, ctx.caller.tenantId)) return apiError(403, 'Forbidden', `Environment ${ctx.params[0]} is not in the caller's tenant ${ctx.caller.tenantId}.`);
  return found;
}

function createAnswer(shape: CreateAnswerShape, r: FakeMigrationRequest): Reply {
  const item = requestItem(r);
  const { id, ...rest } = item;
  switch (shape) {
    case 'empty':
      return { status: 202 };
    case 'migrationId':
      return { status: 200, body: { migrationId: id, ...rest } };
    case 'name':
      return { status: 200, body: { name: id, ...rest } };
    case 'properties':
      return { status: 200, body: { properties: item } };
    default:
      return { status: 200, body: item };
  }
}

const createT2t: Handler = (ctx) => {
  const found = ownEnvironment(ctx);
  if ('status' in found) return found;
  const target = String((ctx.req.body as Record<string, unknown> | undefined)?.TargetTenantId ?? '');
  if (!target) return apiError(400, 'InvalidRequest', 'TargetTenantId is required.');
  if (same(target, ctx.caller.tenantId)) return apiError(400, 'InvalidRequest', 'The target tenant must differ from the source tenant.');
  const targetTenant = ctx.state.tenant(target);
  const request: FakeMigrationRequest = {
    id: crypto.randomUUID(),
    approvalId: crypto.randomUUID(),
    sourceTenantId: found.tenant.tenantId,
    targetTenantId: targetTenant?.tenantId ?? target,
    environmentId: found.env.id,
    environmentName: found.env.name,
    organizationId: found.env.organizationId,
    createdOnTime: new Date().toISOString(),
    createdBy: { ...ctx.caller.actor },
    approvalStatus: 'Pending',
    stage: 'Requested',
  };
  ctx.state.requests.set(request.id.toLowerCase(), request);
  return createAnswer(ctx.state.options.createAnswer ?? 'id', request);
};

const generateStorage: Handler = async (ctx) => {
  const found = ownEnvironment(ctx);
  if ('status' in found) return found;
  // The article's older revision shows the answer as a stored-access-policy SAS (`sv=…&sr=c&si=SASpolicy…`, no `se=`).
  const sas = ctx.state.options.storageSas
    ? await ctx.state.options.storageSas(found.tenant.tenantId, found.env.id)
    : `${ctx.baseUrl.replace(/\/bap$/, '')}/storage/t2t-${found.env.id.toLowerCase()}?sv=2018-03-28&sr=c&si=SASpolicyfake&sig=fake`;
  return { status: 200, body: { sharedAccessSignature: sas } };
};

const listRequests: Handler = (ctx) => {
  const mine = [...ctx.state.requests.values()].filter((r) => same(r.sourceTenantId, ctx.caller.tenantId));
  return page(ctx, mine.map(requestItem));
};

const listApprovals: Handler = (ctx) => {
  const mine = [...ctx.state.requests.values()].filter((r) => same(r.targetTenantId, ctx.caller.tenantId));
  return page(ctx, mine.map(approvalItem));
};

function decide(ctx: PowerPlatformContext, decision: 'Approved' | 'Rejected'): Reply {
  const request = [...ctx.state.requests.values()].find((r) => same(r.approvalId, ctx.params[0]));
  if (!request) return apiError(404, 'ApprovalNotFound', `No tenant-to-tenant migration approval ${ctx.params[0]}.`);
  if (!same(request.targetTenantId, ctx.caller.tenantId)) return apiError(403, 'Forbidden', `Approval ${request.approvalId} belongs to tenant ${request.targetTenantId}, not to the caller's tenant ${ctx.caller.tenantId}.`);
  if (request.approvalStatus !== 'Pending' && request.approvalStatus !== decision) {
    return apiError(400, 'ApprovalAlreadyActioned', `Approval ${request.approvalId} was already ${request.approvalStatus.toLowerCase()}.`);
  }
  request.approvalStatus = decision;
  request.approvalActionedBy ??= { ...ctx.caller.actor };
  return { status: 200, body: approvalItem(request) };
}

function startOperation(ctx: PowerPlatformContext, request: FakeMigrationRequest, kind: Operation['kind']): Reply {
  const behaviour = { ...ctx.state.behaviour };
  request.stage = kind === 'prepare' ? 'Preparing' : 'Migrating';
  const operation: Operation = { id: crypto.randomUUID(), tenantId: request.sourceTenantId, migrationId: request.id, kind, polls: 0, behaviour, createdAt: new Date().toISOString() };
  if (behaviour.answer === 'done') {
    finish(ctx.state, operation);
    return { status: 200, body: operationBody(operation, behaviour.outcome) };
  }
  ctx.state.operations.set(operation.id, operation);
  const location = `${ctx.baseUrl}${API}/operations/${operation.id}?api-version=${API_VERSION}`;
  const headers: Record<string, string> = { [behaviour.answer === 'location' ? 'Location' : 'Operation-Location']: location };
  if (behaviour.retryAfterSeconds !== undefined) headers['Retry-After'] = String(behaviour.retryAfterSeconds);
  // The module prints only the status of this answer ("Code 202, Description Accepted"): no body here (a guess).
  return { status: 202, headers };
}

function finish(state: FakeState, operation: Operation): void {
  const request = state.requests.get(operation.migrationId.toLowerCase());
  if (!request) return;
  if (operation.behaviour.outcome === 'Failed') {
    request.stage = 'Failed';
    request.lastError = operation.behaviour.failureMessage;
    return;
  }
  if (operation.kind === 'prepare' && operation.behaviour.validation === 'fails') {
    const container = String((request.prepareBody as Record<string, unknown> | undefined)?.ReadOnlyUserMappingFileContainerUri ?? '');
    request.stage = 'ValidationFailed';
    request.validationErrors = `${container}/usermapping_errors.csv?sv=2018-03-28&sr=b&si=SASpolicyfake&sig=fake`;
    return;
  }
  request.stage = operation.kind === 'prepare' ? 'Prepared' : 'Migrated';
  if (operation.kind === 'migrate') moveEnvironment(state, request);
}

/**
 * A poll's answer. In the lifecycle shape, the Terraform provider's LifecycleDto (internal/api/lifecycle.go):
 * `{ id, state: { id }, type: { id }, createdDateTime, lastActionDateTime }`; the state word is what the
 * module's WaitUntilFinished reads ($content.state.id: Running, Succeeded or Failed).
 */
function operationBody(operation: Operation, state: 'Running' | 'Succeeded' | 'Failed'): Record<string, unknown> {
  const error = state === 'Failed' ? { error: { code: 'MigrationFailed', message: operation.behaviour.failureMessage } } : {};
  switch (operation.behaviour.stateShape) {
    case 'status-string':
      return { id: operation.id, status: state, ...error };
    case 'no-state':
      return { id: operation.id, progress: operation.polls };
    default:
      return {
        id: operation.id,
        state: { id: state },
        type: { id: operation.kind === 'prepare' ? 'ValidateTenantToTenantMigration' : 'MigrateEnvironment' },
        createdDateTime: operation.createdAt,
        lastActionDateTime: new Date().toISOString(),
        ...error,
      };
  }
}

/** After a migration the environment lives in the target tenant. */
function moveEnvironment(state: FakeState, request: FakeMigrationRequest): void {
  const found = state.environmentOwner(request.environmentId);
  const target = state.tenant(request.targetTenantId);
  if (!found || !target) return;
  found.tenant.environments.delete(found.env.id.toLowerCase());
  target.environments.set(found.env.id.toLowerCase(), found.env);
}

/**
 * The migration's status (GET t2tmigrations/{id}/get). Its shape is undocumented (the module prints it
 * as it comes: a guess); the status words are the article's TenantToTenant-GetMigrationStatus samples.
 */
function statusText(r: FakeMigrationRequest): string {
  switch (r.stage) {
    case 'Preparing':
      return 'Validate Tenant To Tenant Migration: Running';
    case 'Prepared':
      return 'Validate Tenant To Tenant Migration: Succeeded';
    case 'ValidationFailed':
      return `Validation Failed, Errors are updated on the blob here: ${r.validationErrors}`;
    case 'Migrating':
      return 'Migrate Environment: Running';
    case 'Migrated':
      return 'Migrate Environment: Succeeded';
    case 'Failed':
      return 'Migrate Environment: Failed';
    default:
      return 'Requested';
  }
}

function statusBody(r: FakeMigrationRequest) {
  return {
    ...requestItem(r),
    sourceTenantId: r.sourceTenantId,
    environmentName: r.environmentName,
    status: statusText(r),
    ...(r.lastError ? { error: { code: 'MigrationFailed', message: r.lastError } } : {}),
  };
}

const prepare: Handler = (ctx) => {
  const request = ownRequest(ctx);
  if ('status' in request) return request;
  const body = (ctx.req.body ?? {}) as Record<string, unknown>;
  if (!same(String(body.TargetTenantId ?? ''), request.targetTenantId)) return apiError(400, 'InvalidRequest', `TargetTenantId must be ${request.targetTenantId}.`);
  const uri = String(body.ReadOnlyUserMappingFileContainerUri ?? '');
  if (!/^https?:\/\/[^?#]+$/.test(uri)) return apiError(400, 'InvalidRequest', 'ReadOnlyUserMappingFileContainerUri must be the container URI without a query.');
  if (request.approvalStatus !== 'Approved') return apiError(400, 'MigrationNotApproved', `Migration ${request.id} is ${request.approvalStatus.toLowerCase()}, not approved, in the target tenant.`);
  request.prepareBody = body;
  request.validationErrors = undefined;
  return startOperation(ctx, request, 'prepare');
};

const migrate: Handler = (ctx) => {
  const request = ownRequest(ctx);
  if ('status' in request) return request;
  const body = (ctx.req.body ?? {}) as Record<string, unknown>;
  if (!same(String(body.TargetTenantId ?? ''), request.targetTenantId)) return apiError(400, 'InvalidRequest', `TargetTenantId must be ${request.targetTenantId}.`);
  if (request.stage !== 'Prepared') return apiError(400, 'MigrationNotPrepared', `Migration ${request.id} is ${request.stage}; prepare it first.`);
  request.migrateBody = body;
  return startOperation(ctx, request, 'migrate');
};

const pollOperation: Handler = (ctx) => {
  const operation = ctx.state.operations.get(ctx.params[0]);
  if (!operation) return apiError(404, 'OperationNotFound', `No operation ${ctx.params[0]}.`);
  if (!same(operation.tenantId, ctx.caller.tenantId)) return apiError(403, 'Forbidden', `Operation ${operation.id} belongs to another tenant.`);
  operation.polls += 1;
  const { behaviour } = operation;
  if (operation.polls <= behaviour.runningPolls || behaviour.stateShape === 'no-state') {
    const headers = behaviour.retryAfterSeconds !== undefined ? { 'Retry-After': String(behaviour.retryAfterSeconds) } : undefined;
    return { status: 200, headers, body: operationBody(operation, 'Running') };
  }
  if (operation.polls === behaviour.runningPolls + 1) finish(ctx.state, operation);
  return { status: 200, body: operationBody(operation, behaviour.outcome) };
};

const getStatus: Handler = (ctx) => {
  const request = ownRequest(ctx);
  return 'status' in request ? request : { status: 200, body: statusBody(request) };
};

const deleteRequest: Handler = (ctx) => {
  const request = ownRequest(ctx);
  if ('status' in request) return request;
  ctx.state.requests.delete(request.id.toLowerCase());
  return { status: 204 };
};

/** As Get-AdminPowerAppEnvironment reads it: the properties the product looks at, and no more. */
const getEnvironment: Handler = (ctx) => {
  const found = ownEnvironment(ctx);
  if ('status' in found) return found;
  const { tenant, env } = found;
  return {
    status: 200,
    body: {
      id: `${API}/scopes/admin/environments/${env.id}`,
      name: env.id,
      type: 'Microsoft.BusinessAppPlatform/scopes/environments',
      properties: {
        tenantId: tenant.tenantId,
        displayName: env.name,
        environmentSku: env.environmentSku,
        governanceConfiguration: { protectionLevel: env.managed ? 'Standard' : 'Basic' },
        linkedEnvironmentMetadata: { resourceId: env.organizationId },
      },
    },
  };
};

const ROUTES: Array<{ method: string; pattern: RegExp; handler: Handler }> = [
  { method: 'GET', pattern: /^\/scopes\/admin\/environments\/([^/]+)$/, handler: getEnvironment },
  { method: 'POST', pattern: /^\/environments\/([^/]+)\/createt2t$/, handler: createT2t },
  { method: 'POST', pattern: /^\/environments\/([^/]+)\/generateTenantToTenantResourceStorage$/, handler: generateStorage },
  { method: 'GET', pattern: /^\/t2tmigrations$/, handler: listRequests },
  { method: 'GET', pattern: /^\/t2tmigrationapprovals$/, handler: listApprovals },
  { method: 'POST', pattern: /^\/t2tmigrationapprovals\/([^/]+)\/approve$/, handler: (ctx) => decide(ctx, 'Approved') },
  { method: 'POST', pattern: /^\/t2tmigrationapprovals\/([^/]+)\/reject$/, handler: (ctx) => decide(ctx, 'Rejected') },
  { method: 'POST', pattern: /^\/t2tmigrations\/([^/]+)\/prepare$/, handler: prepare },
  { method: 'POST', pattern: /^\/t2tmigrations\/([^/]+)\/migrate$/, handler: migrate },
  { method: 'GET', pattern: /^\/t2tmigrations\/([^/]+)\/get$/, handler: getStatus },
  { method: 'DELETE', pattern: /^\/t2tmigrations\/([^/]+)\/delete$/, handler: deleteRequest },
  { method: 'GET', pattern: /^\/operations\/([^/]+)$/, handler: pollOperation },
];

async function powerPlatform(state: FakeState, baseUrl: string, req: Incoming, headers: IncomingMessage['headers']): Promise<{ reply: Reply; tenantId?: string }> {
  const caller = authenticate(state, headers, FAKE_POWER_PLATFORM_AUDIENCE);
  if (isReply(caller)) return { reply: caller };
  const reply = await routePowerPlatform(state, baseUrl, req, caller, /^Bearer (.+)$/i.exec(headers.authorization ?? '')?.[1] ?? '');
  return { reply, tenantId: caller.tenantId };
}

async function routePowerPlatform(state: FakeState, baseUrl: string, req: Incoming, caller: Caller, token: string): Promise<Reply> {
  state.callers.push({ method: req.method, path: req.path, tenantId: caller.tenantId, delegated: caller.delegated === true, actor: caller.actor, token });
  if (caller.app?.powerPlatformAdmin === false && !caller.delegated) {
    return apiError(403, 'Forbidden', `The app ${caller.clientId} is not a Power Platform management app in tenant ${caller.tenantId}.`);
  }
  // Whether, and how, the real admin API refuses app-only tokens here is not documented: the 403, its
  // code and its words are a guess (see MicrosoftFakesOptions.appOnlyTenantToTenant).
  const refusesAppOnly = state.options.appOnlyTenantToTenant === false || state.appOnlyRefused.has(caller.tenantId.toLowerCase());
  if (refusesAppOnly && !caller.delegated && /\/(t2tmigration|createt2t|generateTenantToTenantResourceStorage)/i.test(req.path)) {
    return apiError(403, 'UserContextRequired', 'Tenant-to-tenant migration operations require a signed-in Power Platform or Dynamics 365 administrator.');
  }
  if (!req.path.startsWith(`${API}/`)) return apiError(404, 'NotFound', `No route ${req.method} ${req.path}.`);
  if (req.url.searchParams.get('api-version') !== API_VERSION) return apiError(400, 'InvalidApiVersion', `api-version must be ${API_VERSION}.`);
  const sub = req.path.slice(API.length);
  for (const route of ROUTES) {
    const m = route.pattern.exec(sub);
    if (m && route.method === req.method) {
      return route.handler({ state, caller, req, params: m.slice(1).map(decodeURIComponent), baseUrl });
    }
  }
  return apiError(404, 'NotFound', `No route ${req.method} ${req.path}.`);
}

// ---------------------------------------------------------------- server

export interface MicrosoftFakes {
  port: number;
  powerPlatformApiUrl: string;
  graphApiUrl: string;
  authorityHost: string;
  /** the CA's PEM, and a file holding it for NODE_EXTRA_CA_CERTS */
  ca: string;
  caPath: string;
  /** every request, oldest first */
  readonly requestLog: FakeLogEntry[];
  /** token requests (POSTs to the token endpoint) for a tenant, or for all tenants */
  tokenRequests(tenantId?: string): number;
  /** settings for the product pointing at this fake, with these credentials */
  settings(tenants: MicrosoftTenantCredential[], operationPollMs?: number, operationBudgetMs?: number): MicrosoftSettings;
  /** the principal the fake records for a user (by UPN) or an app (by display name or client id) of a tenant */
  principalOf(tenantId: string, name: string, type: FakePrincipal['type']): FakePrincipal;
  /** a valid access token without going through sign-in, e.g. for Graph route tests */
  issueToken(tenantId: string, clientId: string, scope: string): string;
  /**
   * The next `times` requests whose "METHOD path" (path after the service's base
   * URL, e.g. `POST /providers/Microsoft.BusinessAppPlatform/t2tmigrations/x/prepare`,
   * `POST /tenant/oauth2/v2.0/token`, `GET /v1.0/users`) contains the string or
   * matches the RegExp get this answer instead.
   */
  failNext(pattern: string | RegExp, fault: Fault): void;
  /** forgets the faults not yet used */
  clearFaults(): void;
  /** how the next prepare/migrate answer and their operations behave */
  setOperationBehaviour(behaviour: Partial<OperationBehaviour>): void;
  setPageSize(pageSize: number): void;
  /** whether the tenant-to-tenant calls take app-only tokens (see MicrosoftFakesOptions.appOnlyTenantToTenant): everywhere, or in one tenant */
  setAppOnlyTenantToTenant(accepted: boolean, tenantId?: string): void;
  /** every admin API call, oldest first: the tenant, whether a user's token made it and whom it named, the token */
  readonly adminApiCallers: FakeState['callers'];
  /** on-behalf-of tokens issued */
  oboExchanges(): number;
  setCreateAnswer(shape: CreateAnswerShape): void;
  addEnvironment(tenantId: string, environment: FakeEnvironment): void;
  environments(tenantId: string): FakeEnvironment[];
  /** the migration requests as the fake holds them (live objects) */
  requests(): FakeMigrationRequest[];
  /** an admin (by UPN, a user of the target tenant) approving in the admin center, not through the product */
  approveExternally(approvalIdOrMigrationId: string, by: string): void;
  rejectExternally(approvalIdOrMigrationId: string, by: string): void;
  deleteExternally(migrationId: string): void;
  /** a person entering the device code in the browser and signing in as `user` */
  completeDeviceCode(userCode: string, user: string): void;
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  if ((req.headers['content-type'] ?? '').includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

const PREFIXES = { '/login': 'sign-in', '/bap': 'power-platform', '/graph': 'graph' } as const;

function splitService(pathname: string): { service: FakeLogEntry['service']; path: string } {
  for (const [prefix, service] of Object.entries(PREFIXES)) {
    if (pathname === prefix || pathname.startsWith(`${prefix}/`)) return { service, path: pathname.slice(prefix.length) || '/' };
  }
  return { service: 'unknown', path: pathname };
}

/** An injected answer, in the error shape of the service it stands for (OAuth's for sign-in). */
function faultReply(fault: Fault, service: FakeLogEntry['service']): Reply {
  const headers: Record<string, string> = { ...fault.headers };
  if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
  if (fault.body !== undefined) return { status: fault.status, headers, body: fault.body };
  if (service === 'sign-in') {
    const code = fault.status === 429 ? 'AADSTS50196' : fault.status >= 500 ? 'AADSTS90033' : 'AADSTS90000';
    const error = fault.status >= 500 ? 'temporarily_unavailable' : fault.status === 429 ? 'slow_down' : 'invalid_request';
    return { ...oauthError(fault.status, error, `${code}: injected ${fault.status}`), headers };
  }
  return { status: fault.status, headers, body: { error: { code: `Fake${fault.status}`, message: `injected ${fault.status}` } } };
}

function send(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
  if (body) headers['Content-Type'] = 'application/json; charset=utf-8';
  res.writeHead(reply.status, headers);
  res.end(body);
}

export async function startMicrosoftFakes(options: MicrosoftFakesOptions): Promise<MicrosoftFakes> {
  const state = new FakeState(options);
  const graphRoutes = createGraphRoutes(options.graph);
  const { ca, cert, key } = await createServerCertificates();
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2t-microsoft-fakes-'));
  const caPath = path.join(dir, 'ca.pem');
  writeFileSync(caPath, ca);
  let origin = '';

  async function graph(req: Incoming, headers: IncomingMessage['headers']): Promise<{ reply: Reply; tenantId?: string }> {
    const caller = authenticate(state, headers, FAKE_GRAPH_AUDIENCE);
    if (isReply(caller)) return { reply: caller };
    const reply = await graphRoutes.handle({
      method: req.method,
      url: req.url,
      body: req.body,
      tenantId: caller.tenantId,
      audience: caller.audience,
      headers,
      baseUrl: `${origin}/graph`,
    });
    return { reply: reply ?? apiError(404, 'Request_ResourceNotFound', `No Graph route ${req.method} ${req.path}.`), tenantId: caller.tenantId };
  }

  async function answer(req: IncomingMessage): Promise<{ reply: Reply; entry: Omit<FakeLogEntry, 'status'> }> {
    const full = new URL(req.url ?? '/', origin);
    const { service, path: inner } = splitService(full.pathname);
    const incoming: Incoming = { method: req.method ?? 'GET', path: inner, url: new URL(`${inner}${full.search}`, origin), body: await readBody(req) };
    const entry: Omit<FakeLogEntry, 'status'> = { service, method: incoming.method, path: inner };
    if (service === 'sign-in') entry.tenantId = decodeURIComponent(inner.split('/')[1] ?? '');
    const fault = state.takeFault(incoming.method, inner);
    if (fault) return { reply: faultReply(fault, service), entry };
    if (service === 'sign-in') return { reply: await signIn(state, `${origin}/login`, incoming), entry };
    const routed =
      service === 'power-platform'
        ? await powerPlatform(state, `${origin}/bap`, incoming, req.headers)
        : service === 'graph'
          ? await graph(incoming, req.headers)
          : { reply: apiError(404, 'NotFound', `No service at ${full.pathname}.`) };
    return { reply: routed.reply, entry: { ...entry, tenantId: routed.tenantId } };
  }

  const server = https.createServer({ key, cert }, (req, res) => {
    answer(req).then(
      ({ reply, entry }) => {
        state.log.push({ ...entry, status: reply.status });
        send(res, reply);
      },
      (err: Error) => send(res, apiError(500, 'FakeFault', `the fake failed: ${err.message}`)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  origin = `https://127.0.0.1:${port}`;

  const decideExternally = (idOrMigration: string, decision: ApprovalStatus, by: string) => {
    const request = state.findRequest(idOrMigration);
    if (!request) throw new Error(`the fake has no migration or approval ${idOrMigration}`);
    request.approvalStatus = decision;
    request.approvalActionedBy = state.principal(request.targetTenantId, by, 'User');
  };

  return {
    port,
    powerPlatformApiUrl: `${origin}/bap`,
    graphApiUrl: `${origin}/graph`,
    authorityHost: `${origin}/login`,
    ca,
    caPath,
    requestLog: state.log,
    tokenRequests: (tenantId) =>
      tenantId === undefined ? [...state.tokenRequests.values()].reduce((a, b) => a + b, 0) : (state.tokenRequests.get(tenantId.toLowerCase()) ?? 0),
    settings: (tenants, operationPollMs = 50, operationBudgetMs = 3_600_000) => ({
      powerPlatformApiUrl: `${origin}/bap`,
      graphApiUrl: `${origin}/graph`,
      authorityHost: `${origin}/login`,
      customAuthority: true,
      tenants,
      operationPollMs,
      operationBudgetMs,
    }),
    principalOf: (tenantId, name, type) => state.principal(tenantId, name, type),
    issueToken(tenantId, clientId, scope) {
      const app = state.app(tenantId, clientId);
      const reply = issueAccessToken(state, { tenantId, clientId, actor: state.principal(tenantId, app?.displayName ?? clientId, 'ServicePrincipal') }, scope);
      if (reply.status !== 200) throw new Error(`the fake cannot issue a token for scope ${scope}`);
      return (reply.body as { access_token: string }).access_token;
    },
    failNext: (pattern, fault) => void state.faults.push({ pattern, fault, left: fault.times ?? 1 }),
    clearFaults: () => void state.faults.splice(0),
    setOperationBehaviour: (behaviour) => void Object.assign(state.behaviour, behaviour),
    setPageSize: (pageSize) => void (state.options.pageSize = pageSize),
    setAppOnlyTenantToTenant: (accepted, tenantId) => {
      if (tenantId === undefined) state.options.appOnlyTenantToTenant = accepted;
      else if (accepted) state.appOnlyRefused.delete(tenantId.toLowerCase());
      else state.appOnlyRefused.add(tenantId.toLowerCase());
    },
    adminApiCallers: state.callers,
    oboExchanges: () => state.oboExchanges,
    setCreateAnswer: (shape) => void (state.options.createAnswer = shape),
    addEnvironment: (tenantId, environment) => state.addEnvironment(tenantId, environment),
    environments: (tenantId) => [...(state.tenant(tenantId)?.environments.values() ?? [])],
    requests: () => [...state.requests.values()],
    approveExternally: (id, by) => decideExternally(id, 'Approved', by),
    rejectExternally: (id, by) => decideExternally(id, 'Rejected', by),
    deleteExternally(migrationId) {
      const request = state.findRequest(migrationId);
      if (!request) throw new Error(`the fake has no migration ${migrationId}`);
      state.requests.delete(request.id.toLowerCase());
    },
    completeDeviceCode(userCode, user) {
      const entry = [...state.deviceCodes.values()].find((d) => d.userCode === userCode);
      if (!entry) throw new Error(`the fake has no pending device code ${userCode}`);
      entry.user = user;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
