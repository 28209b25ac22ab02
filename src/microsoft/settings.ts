// The Microsoft back end's settings: where the three services are, which
// app acts in which tenant with which credential, and which tenants take the
// acting admin's own token instead (on-behalf-of). Read once at start from the
// environment and a tenants file, validated, and never logged (only the
// describe() line below, which names no secret).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export const POWER_PLATFORM_API_URL = 'https://api.bap.microsoft.com';
export const GRAPH_API_URL = 'https://graph.microsoft.com';
export const AUTHORITY_HOST = 'https://login.microsoftonline.com';

export interface MicrosoftTenantCredential {
  tenantId: string;
  /** for people: what the tenant is called; the service only knows ids */
  name?: string;
  clientId: string;
  /** exactly one of these two */
  clientSecret?: string;
  /** a PEM file holding the certificate and its private key */
  certificatePath?: string;
  /**
   * The admin API refuses app-only tokens here: the calls made at the moment of an admin's action use
   * that admin's own token, exchanged by the gateway (on-behalf-of, docs/identity.md).
   */
  delegatedCalls?: boolean;
}

/**
 * On-behalf-of: the product API's own app registration (the audience of the admins' tokens), which
 * the gateway exchanges an admin's token with, and the key the exchanged token is sealed with
 * between the gateway and the worker.
 */
export interface MicrosoftDelegation {
  clientId: string;
  /** exactly one of these two */
  clientSecret?: string;
  certificatePath?: string;
  /** AES-256-GCM key (32 bytes) both the gateway and the worker hold */
  key: Buffer;
}

export interface MicrosoftSettings {
  powerPlatformApiUrl: string;
  graphApiUrl: string;
  authorityHost: string;
  /** true when the authority host is not Microsoft's: no instance discovery then */
  customAuthority: boolean;
  tenants: MicrosoftTenantCredential[];
  /** set when a tenant has delegatedCalls */
  delegation?: MicrosoftDelegation;
  /** how often a long-running operation is polled when the service sends no Retry-After */
  operationPollMs: number;
  /** how long a prepare or migrate operation may run before the step ends with one line (T2T_OPERATION_BUDGET, read in src/config.ts) */
  operationBudgetMs: number;
}

const httpsUrl = (name: string) =>
  z
    .string()
    .url(`${name} must be a URL such as https://host`)
    .refine((u) => u.startsWith('https://'), `${name} must use https (a fake stands in with its own CA through NODE_EXTRA_CA_CERTS)`)
    .transform((u) => u.replace(/\/+$/, ''));

const guidOrDomain = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$/, 'must be a tenant id (GUID) or its domain');

const TenantSchema = z
  .object({
    tenantId: guidOrDomain,
    name: z.string().trim().min(1).max(200).optional(),
    clientId: z.string().trim().min(1, 'clientId is required'),
    clientSecret: z.string().min(1).optional(),
    clientSecretFile: z.string().min(1).optional(),
    certificatePath: z.string().min(1).optional(),
    delegatedCalls: z.boolean().optional(),
  })
  .strict()
  .refine((t) => [t.clientSecret, t.clientSecretFile, t.certificatePath].filter(Boolean).length === 1, {
    message: 'give exactly one of clientSecret, clientSecretFile or certificatePath',
  });

const DelegationSchema = z
  .object({
    clientId: z.string().trim().min(1, 'clientId is required (the product API\'s app registration)'),
    clientSecret: z.string().min(1).optional(),
    clientSecretFile: z.string().min(1).optional(),
    certificatePath: z.string().min(1).optional(),
    keyFile: z.string().min(1, 'keyFile is required (32 random bytes, base64, shared by the gateway and the worker)'),
  })
  .strict()
  .refine((t) => [t.clientSecret, t.clientSecretFile, t.certificatePath].filter(Boolean).length === 1, {
    message: 'give exactly one of clientSecret, clientSecretFile or certificatePath',
  });

const TenantsFileSchema = z
  .object({ tenants: z.array(TenantSchema).min(1, 'list at least one tenant'), delegation: DelegationSchema.optional() })
  .strict()
  .refine((f) => f.delegation !== undefined || !f.tenants.some((t) => t.delegatedCalls), {
    message: 'a tenant has delegatedCalls: the file also needs "delegation" (the product API\'s app and the key file, docs/microsoft.md)',
  });

export class MicrosoftSettingsError extends Error {
  override name = 'MicrosoftSettingsError';
}

/**
 * Reads T2T_MICROSOFT_TENANTS_FILE and the three service addresses. Relative paths
 * in the tenants file are relative to the file. Throws MicrosoftSettingsError with one line.
 */
export function loadMicrosoftSettings(env: NodeJS.ProcessEnv, operationBudgetMs: number): MicrosoftSettings {
  const fail = (message: string): never => {
    throw new MicrosoftSettingsError(`configuration: ${message}`);
  };
  const url = (name: string, fallback: string): string => {
    const parsed = httpsUrl(name).safeParse(env[name] || fallback);
    return parsed.success ? parsed.data : fail(parsed.error.issues[0].message);
  };
  const powerPlatformApiUrl = url('T2T_POWERPLATFORM_API_URL', POWER_PLATFORM_API_URL);
  const graphApiUrl = url('T2T_GRAPH_API_URL', GRAPH_API_URL);
  const authorityHost = url('T2T_AUTHORITY_HOST', AUTHORITY_HOST);

  const file = env.T2T_MICROSOFT_TENANTS_FILE;
  if (!file) fail('T2T_MICROSOFT_TENANTS_FILE: the Microsoft back end needs a tenants file (see docs/microsoft.md)');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file!, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(`T2T_MICROSOFT_TENANTS_FILE: ${code === 'ENOENT' ? `no file at ${file}` : code ? `cannot read ${file} (${code})` : `${file} is not JSON`}`);
  }
  const parsed = TenantsFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(`T2T_MICROSOFT_TENANTS_FILE: ${issue.path.join('.') || 'file'}: ${issue.message}`);
  }
  const base = path.dirname(path.resolve(file!));
  /** the secret or certificate of an app in the file, read and checked */
  const credentialOf = (where: string, t: { clientSecret?: string; clientSecretFile?: string; certificatePath?: string }) => {
    let clientSecret = t.clientSecret;
    if (t.clientSecretFile) {
      try {
        clientSecret = readFileSync(path.resolve(base, t.clientSecretFile), 'utf8').trim();
      } catch {
        fail(`T2T_MICROSOFT_TENANTS_FILE: ${where}.clientSecretFile: cannot read ${t.clientSecretFile}`);
      }
    }
    let certificatePath: string | undefined;
    if (t.certificatePath) {
      certificatePath = path.resolve(base, t.certificatePath);
      let pem = '';
      try {
        pem = readFileSync(certificatePath, 'utf8');
      } catch {
        fail(`T2T_MICROSOFT_TENANTS_FILE: ${where}.certificatePath: cannot read ${t.certificatePath}`);
      }
      if (!pem.includes('PRIVATE KEY') || !pem.includes('CERTIFICATE')) {
        fail(`T2T_MICROSOFT_TENANTS_FILE: ${where}.certificatePath: ${t.certificatePath} must be a PEM file with the certificate and its private key`);
      }
    }
    return { clientSecret, certificatePath };
  };
  const seen = new Set<string>();
  const tenants = parsed.data!.tenants.map((t, i): MicrosoftTenantCredential => {
    const key = t.tenantId.toLowerCase();
    if (seen.has(key)) fail(`T2T_MICROSOFT_TENANTS_FILE: tenants.${i}: tenant ${t.tenantId} is listed twice`);
    seen.add(key);
    const { clientSecret, certificatePath } = credentialOf(`tenants.${i}`, t);
    return { tenantId: t.tenantId, name: t.name, clientId: t.clientId, clientSecret, certificatePath, ...(t.delegatedCalls ? { delegatedCalls: true } : {}) };
  });
  let delegation: MicrosoftDelegation | undefined;
  const d = parsed.data!.delegation;
  if (d) {
    let key = Buffer.alloc(0);
    try {
      key = Buffer.from(readFileSync(path.resolve(base, d.keyFile), 'utf8').trim(), 'base64');
    } catch {
      fail(`T2T_MICROSOFT_TENANTS_FILE: delegation.keyFile: cannot read ${d.keyFile}`);
    }
    if (key.length !== 32) fail(`T2T_MICROSOFT_TENANTS_FILE: delegation.keyFile: ${d.keyFile} must hold 32 random bytes in base64 (openssl rand -base64 32)`);
    delegation = { clientId: d.clientId, ...credentialOf('delegation', d), key };
  }
  const poll = Number(env.T2T_OPERATION_POLL_SECONDS ?? 5);
  if (!Number.isFinite(poll) || poll < 0.01 || poll > 600) fail('T2T_OPERATION_POLL_SECONDS: must be a number of seconds between 0.01 and 600');
  return {
    powerPlatformApiUrl,
    graphApiUrl,
    authorityHost,
    customAuthority: authorityHost !== AUTHORITY_HOST,
    tenants,
    ...(delegation ? { delegation } : {}),
    operationPollMs: Math.round(poll * 1000),
    operationBudgetMs,
  };
}

/** One line for logs: addresses and tenant ids, never a secret. */
export function describeMicrosoftSettings(settings: MicrosoftSettings): string {
  const tenants = settings.tenants.map((t) => `${t.tenantId} (${t.certificatePath ? 'certificate' : 'secret'}${t.delegatedCalls ? ', delegated calls' : ''})`).join(', ');
  return `Microsoft back end: ${settings.powerPlatformApiUrl}, ${settings.graphApiUrl}, sign-in ${settings.authorityHost}; tenants ${tenants}`;
}
