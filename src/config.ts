// The one place configuration is read (SPEC §7). Everything comes from the
// environment, is validated at start, and a bad value stops the process with one
// line naming the variable.
import os from 'node:os';
import path from 'node:path';
import type { z as Zod } from 'zod';
import { parseDuration } from './duration';
import { BACKENDS, type BackendKind } from './service/migration-service';
import type { MicrosoftSettings } from './microsoft/settings';
import { checkEscalateAfter, checkSmtpUrl, parseEscalationContacts, parseReminderLeads, type EscalationContacts } from './notifications/settings';

/** Azurite's well-known development account: public, documented, local only. */
export const AZURITE_DEVELOPMENT_CONNECTION_STRING =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;' +
  'AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' +
  'BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;';

/** The workflow gives the service's prepare and migrate 24 h (SERVICE_OPERATION); the budget ends them first. */
const MAX_OPERATION_BUDGET_MS = 23 * 3_600_000;

// Checks the whole schema and the connection's reader below (loadConnectionConfig) both make, in the same words.
const HOST_PORT = { pattern: /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, message: 'must be host:port, e.g. localhost:7233' };
const PAYLOAD_KEY_ID = { pattern: /^[A-Za-z0-9._-]{1,64}$/, message: 'must be 1 to 64 of A-Z a-z 0-9 . _ -' };
const ON_OFF_MESSAGE = 'must be on or off';
const STALL_DEFAULTS = { after: '24h', minSamples: 20 };

/**
 * The environment's schema, built on first use: zod and the schema's construction are about a
 * fifth of a `t2t status`'s CPU, which reads only the connection's settings (loadConnectionConfig).
 */
function environmentSchema(z: typeof Zod) {
  const duration = (name: string, fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((value, ctx) => {
        try {
          return parseDuration(value);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: `${name}: ${(err as Error).message}` });
          return z.NEVER;
        }
      });

  /** A value parsed by a function that throws a message naming what is wrong. */
  const parsedWith = <T>(name: string, parse: (text: string) => T) =>
    z.string().transform((value, ctx) => {
      try {
        return parse(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `${name}: ${(err as Error).message}` });
        return z.NEVER;
      }
    });

  const hostPort = z.string().regex(HOST_PORT.pattern, HOST_PORT.message);

  return z.object({
    TEMPORAL_ADDRESS: hostPort.default('localhost:7233'),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    // Temporal's own authorization (docs/deployment.md): the bearer token this process presents.
    T2T_TEMPORAL_TOKEN_FILE: z.string().min(1).optional(),
    T2T_TEMPORAL_TOKEN_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL, e.g. https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token' }).optional(),
    T2T_TEMPORAL_CLIENT_ID: z.string().min(1).optional(),
    T2T_TEMPORAL_CLIENT_SECRET: z.string().min(1).optional(),
    T2T_TEMPORAL_CLIENT_SECRET_FILE: z.string().min(1).optional(),
    T2T_TEMPORAL_TOKEN_SCOPE: z.string().min(1).optional(),
    T2T_TASK_QUEUE: z.string().min(1).default('tenant-migrations'),
    AZURE_STORAGE_CONNECTION_STRING: z
      .string()
      .default(AZURITE_DEVELOPMENT_CONNECTION_STRING)
      .refine((s) => /AccountName=[^;]+/.test(s) && /AccountKey=[^;]+/.test(s), {
        message: 'must be an account connection string with AccountName and AccountKey (a SAS cannot create containers)',
      }),
    T2T_DATA_DIR: z.string().min(1).default('.data'),
    T2T_DATABASE_URL: z.string().min(1).optional(),
    T2T_APPROVAL_TIMEOUT: duration('T2T_APPROVAL_TIMEOUT', '7d'),
    T2T_LOCKBOX_TIMEOUT: duration('T2T_LOCKBOX_TIMEOUT', '12h'),
    T2T_PREPARE_WINDOW: duration('T2T_PREPARE_WINDOW', '7d'),
    T2T_SAS_VALIDITY: duration('T2T_SAS_VALIDITY', '30d'),
    T2T_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
    T2T_METRICS_ADDRESS: z.string().regex(/^[^:]*:\d{1,5}$/, 'must be host:port, e.g. 0.0.0.0:9464').optional(),
    T2T_HEALTH_ADDRESS: z
      .string()
      .regex(/^[A-Za-z0-9.-]*:\d{1,5}$/, 'must be host:port, e.g. 0.0.0.0:8080 (:8080 for every interface)')
      .refine((s) => Number(s.split(':')[1]) >= 1 && Number(s.split(':')[1]) <= 65535, 'the port must be 1 to 65535')
      .optional(),
    T2T_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).default(100),
    T2T_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(1).max(10_000).default(40),
    // Workflows kept in the worker's sticky cache (0: none); unset, the SDK sizes it from the heap.
    T2T_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(1_000_000).refine((n) => n !== 1, 'must be 0 (no cache) or at least 2').optional(),
    T2T_SHUTDOWN_GRACE: duration('T2T_SHUTDOWN_GRACE', '30s'),
    T2T_REMAP_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(200),
    T2T_BACKEND: z.enum(BACKENDS, { message: `must be one of ${BACKENDS.join(', ')}` }).default('simulated'),
    T2T_SERVICE_POLL_INTERVAL: duration('T2T_SERVICE_POLL_INTERVAL', '5m'),
    // How long the Microsoft service's prepare or migrate operation may run before the step ends with one
    // line naming it; under the 24 h the workflow gives the step, so that the line, not a timeout, ends it.
    T2T_OPERATION_BUDGET: duration('T2T_OPERATION_BUDGET', '12h').refine(
      (ms) => ms >= 60_000 && ms <= MAX_OPERATION_BUDGET_MS,
      'T2T_OPERATION_BUDGET: must be between 1m and 23h (the workflow gives the step 24h)',
    ),
    T2T_RECONCILE_INTERVAL: duration('T2T_RECONCILE_INTERVAL', '1m'),
    T2T_CHECK_BUDGET: duration('T2T_CHECK_BUDGET', '3m'),
    T2T_STALL_AFTER: duration('T2T_STALL_AFTER', STALL_DEFAULTS.after),
    T2T_STALL_MIN_SAMPLES: z.coerce.number().int().min(1).max(100_000).default(STALL_DEFAULTS.minSamples),
    T2T_STALL_CHECK_INTERVAL: duration('T2T_STALL_CHECK_INTERVAL', '5m'),
    T2T_CONTINUE_AFTER_EVENTS: z.coerce.number().int().min(50).max(40_000).default(10_000),
    // Evidence packs (t2t evidence): signed with an HMAC key or an Ed25519 key pair (src/evidence/signing.ts).
    T2T_EVIDENCE_HMAC_KEY: z.string().min(32, 'must be at least 32 characters (a random secret, e.g. openssl rand -hex 32)').optional(),
    T2T_EVIDENCE_SIGNING_KEY_FILE: z.string().min(1).optional(),
    T2T_EVIDENCE_PUBLIC_KEY_FILE: z.string().min(1).optional(),
    T2T_EVIDENCE_KEY_ID: z.string().regex(/^[\x21-\x7e]{1,100}$/, 'must be 1 to 100 printable characters without spaces').optional(),
    // Notifications (docs/operations.md): reminders, escalation, delivery.
    T2T_REMINDERS: parsedWith('T2T_REMINDERS', parseReminderLeads).default(parseReminderLeads('24h,1h')),
    T2T_ESCALATE_AFTER: duration('T2T_ESCALATE_AFTER', '30m'),
    T2T_ESCALATION_CONTACT: parsedWith('T2T_ESCALATION_CONTACT', parseEscalationContacts).optional(),
    T2T_SMTP_URL: z.string().superRefine((value, ctx) => {
      const problem = checkSmtpUrl(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }).optional(),
    T2T_NOTIFY_FROM: z.string().regex(/^[^\s@<>,;]+@[^\s@<>,;]+$/, 'must be an email address such as t2t@contoso.com').default('t2t@localhost'),
    T2T_NOTIFY_BUDGET: duration('T2T_NOTIFY_BUDGET', '10m'),
    // Payload encryption (docs/payload-format.md, docs/deployment.md): the keys are read and checked in src/codec/.
    T2T_PAYLOAD_ENCRYPTION: z.enum(['on', 'off'], { message: ON_OFF_MESSAGE }).optional(),
    T2T_PAYLOAD_KEYS: z.string().min(1).optional(),
    T2T_PAYLOAD_KEYS_FILE: z.string().min(1).optional(),
    T2T_PAYLOAD_KEY_ID: z.string().regex(PAYLOAD_KEY_ID.pattern, PAYLOAD_KEY_ID.message).optional(),
    T2T_CODEC_ADDRESS: z
      .string()
      .regex(/^[A-Za-z0-9.-]*:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8234 (:8234 for every interface)')
      .optional(),
    T2T_CODEC_CORS_ORIGINS: z
      .string()
      .transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean))
      .refine((origins) => origins.every((o) => /^https?:\/\/[^/\s]+$/.test(o)), 'must be origins such as https://temporal-ui.contoso.com, comma-separated, without a path')
      .optional(),
    T2T_CODEC_AUTH_TOKEN: z.string().min(32, 'must be at least 32 characters (a random secret, e.g. openssl rand -hex 32)').optional(),
    T2T_CODEC_SIGN_IN: z.enum(['on', 'off'], { message: ON_OFF_MESSAGE }).default('on'),
    T2T_CODEC_TOKEN_AUDIENCE: z
      .string()
      .transform((s) => s.split(',').map((a) => a.trim()).filter(Boolean))
      .refine((audiences) => audiences.length > 0, 'must name one or more audiences, comma-separated (e.g. the Temporal app\'s Application ID URI)')
      .optional(),
    // Worker Versioning (docs/deployment.md): the deployment this worker belongs to and its build.
    T2T_WORKER_VERSIONING: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
    T2T_DEPLOYMENT_NAME: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,200}$/, 'must be 1 to 200 letters, digits, - or _ (no dot: Temporal joins name and build id with one)')
      .default('t2t-worker'),
    T2T_BUILD_ID: z
      .string()
      .regex(/^(?!__)[\x21-\x7e]{1,200}$/, 'must be 1 to 200 printable characters without spaces, not starting with __')
      .optional(),
    T2T_BECOME_CURRENT: z.enum(['if-none', 'always', 'never'], { message: 'must be if-none, always or never' }).default('if-none'),
    // Sign-in (docs/identity.md): the issuer admins sign in with; unset, the embedded stack's own provider.
    T2T_IDENTITY_PORT: z.coerce.number().int().min(1).max(65535).default(8235),
    T2T_AUTH_AUTHORITY: z.url({ protocol: /^https$/, message: 'must be an https URL, e.g. https://login.microsoftonline.com/<tenant id>/v2.0' }).optional(),
    T2T_AUTH_CLIENT_ID: z.string().min(1).default('t2t-cli'),
    T2T_AUTH_API: z.string().min(1).default('api://t2t'),
    T2T_TOKEN_CACHE: z.string().min(1).optional(),
    T2T_GATEWAY_ADDRESS: hostPort.default('localhost:8236'),
    T2T_GATEWAY_KEY_FILE: z.string().min(1).optional(),
    T2T_GATEWAY_TLS_CERT: z.string().min(1).optional(),
    T2T_GATEWAY_TLS_KEY: z.string().min(1).optional(),
    // Signed actions (docs/identity.md): on, workflows act only on actions the gateway signed.
    T2T_AUTH: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
    T2T_GATEWAY_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL, e.g. https://t2t-gateway.example.com' }).optional(),
    T2T_GATEWAY_PUBLIC_KEYS_FILE: z.string().min(1).optional(),
  });
}

/** Where the payload keys come from; src/codec/ reads and checks them when a process connects. */
export interface PayloadSettings {
  /** on: keys are required; off: payloads are written in clear; unset: keys when some are configured or in the data folder */
  encryption?: 'on' | 'off';
  /** T2T_PAYLOAD_KEYS: `id:base64key` entries (never logged) */
  keys?: string;
  keysFile?: string;
  /** the encrypting key; default the first listed */
  keyId?: string;
}

/** The product's codec server (src/codec/server.ts), for the Web UI and `temporal --codec-endpoint`. */
export interface CodecServerSettings {
  /** host:port it listens on; unset: not started (the embedded stack starts it on 127.0.0.1:8234) */
  address?: string;
  /** the Web UI origins allowed by CORS; unset: the embedded Web UI's */
  corsOrigins: string[];
  /** a shared bearer token for tools (the Temporal CLI's --codec-auth); accepted next to a sign-in */
  authToken?: string;
  /**
   * on: the codec server on its own (serve.ts) decodes only for a signed-in admin's token, verified as the
   * gateway verifies it (or the shared token); off: no sign-in asked. The embedded stack's never asks (its Web UI has none).
   */
  signIn: 'on' | 'off';
  /**
   * audiences accepted besides the product API's: the Temporal app's, whose tokens a Web UI signed in for
   * Temporal's authorization forwards (T2T_CODEC_TOKEN_AUDIENCE)
   */
  extraAudiences: string[];
}

/** How evidence packs are signed and verified; key files are read and checked when an evidence command starts. */
export interface EvidenceSettings {
  hmacKey?: string;
  /** Ed25519 private key (PEM), for signing; its public half verifies */
  signingKeyFile?: string;
  /** Ed25519 public key (PEM), for verifying without the private key */
  publicKeyFile?: string;
  /** the name the manifest gives the key; default: a fingerprint of the key */
  keyId?: string;
}

export interface SignInSettings {
  /** the issuer admins sign in with (Entra ID: https://login.microsoftonline.com/<tenant id>/v2.0) */
  authority: string;
  /** true when that is the embedded stack's own provider: only there may `--as` sign a world user in */
  sandbox: boolean;
  /** the embedded provider's port (npm start) */
  sandboxPort: number;
  /** the sandbox provider's self-signed certificate, the one the CLI trusts for it */
  sandboxCertificateFile: string;
  /** the public client the CLI signs in as */
  clientId: string;
  /** the product API's identifier: the audience of the tokens the gateway accepts */
  api: string;
  /** the signed-in user's token cache, readable by that user only */
  tokenCacheFile: string;
  /** where the action gateway listens (host:port) */
  gatewayAddress: string;
  /** the gateway's Ed25519 signing key (PEM); unset: one made in the data folder */
  gatewayKeyFile?: string;
  /** the gateway's own TLS certificate and key (PEM files): https when set */
  gatewayTls?: { certFile: string; keyFile: string };
  /**
   * on: a workflow acts only on actions (and starts) the gateway signed, and t2t sends actions through the
   * gateway; off: the raw-signal design alone (T2T_AUTH=off)
   */
  auth: 'on' | 'off';
  /** where clients and workers reach the gateway (its /v1 API); default http://<gatewayAddress> */
  gatewayUrl: string;
  /** the gateway's published keys as a file ({ keys: [{ kid, x }] }, what GET /v1/keys answers); unset: read from gatewayUrl */
  gatewayPublicKeysFile?: string;
}

/**
 * Where this process gets the bearer token it presents to Temporal (docs/deployment.md, "Temporal's
 * own authorization"): a file something else keeps fresh, or OAuth 2.0 client credentials.
 */
export type TemporalTokenSettings =
  | { file: string }
  | { tokenUrl: string; clientId: string; clientSecret: { value: string } | { file: string }; scope: string };

export interface Config {
  temporalAddress: string;
  namespace: string;
  /** unset: no token (a cluster without authorization, the dev server, an API key or mTLS) */
  temporalToken?: TemporalTokenSettings;
  taskQueue: string;
  storageConnectionString: string;
  dataDir: string;
  databaseUrl: string;
  /** milliseconds */
  approvalTimeoutMs: number;
  lockboxTimeoutMs: number;
  prepareWindowMs: number;
  sasValidityMs: number;
  uiPort: number;
  /** where the worker serves Prometheus metrics; off when unset */
  metricsAddress?: string;
  /** where the worker answers Kubernetes' probes (/readyz, /livez); off when unset */
  healthAddress?: string;
  maxConcurrentActivities: number;
  maxConcurrentWorkflowTasks: number;
  /** the sticky workflow cache's size; undefined: the SDK's default, sized from the heap */
  maxCachedWorkflows?: number;
  /** how long a stopping worker lets running activities finish */
  shutdownGraceMs: number;
  /** users re-mapped between two heartbeats */
  remapBatchSize: number;
  /** which migration service the product drives */
  backend: BackendKind;
  /** the Microsoft back end's settings, when it is the one chosen */
  microsoft?: MicrosoftSettings;
  /** how often a waiting migration reads its request on the service (actions taken outside the product) */
  servicePollMs: number;
  /** how long a check an admin waits for (role, storage) may keep retrying before the action is refused */
  checkBudgetMs: number;
  /** a waiting migration continues as new past this many history events (or when Temporal suggests it) */
  continueAfterEvents: number;
  /** how often the reconciler's Schedule looks for requests whose workflow closed without finishing them */
  reconcileIntervalMs: number;
  /** how evidence packs are signed (t2t evidence) */
  evidence?: EvidenceSettings;
  /** how long before a deadline the people who must act are reminded, longest first (T2T_REMINDERS) */
  reminderLeadsMs: number[];
  /** how long after the last reminder, without action, the escalation contact is told */
  escalateAfterMs: number;
  /** escalation contacts from the configuration (a tenant's own, from the world file, comes before the fallback) */
  escalationContacts: EscalationContacts;
  /** the mail server for email notifications; none: email notifications fail as not configured */
  smtpUrl?: string;
  /** the From address of email notifications */
  notifyFrom: string;
  /** how long one notification is retried before it counts as failed */
  notifyBudgetMs: number;
  /** how admins sign in (docs/identity.md) */
  signIn: SignInSettings;
  /** stall detection (docs/operations.md): a phase's p90 once it has minSamples completed periods, limitMs before */
  stall: { limitMs: number; minSamples: number; checkIntervalMs: number };
  payload: PayloadSettings;
  codecServer: CodecServerSettings;
  /**
   * The Worker Deployment version this worker declares (docs/deployment.md); undefined: an
   * unversioned worker. The build id, when not configured, is derived from the package version
   * and the workflow bundle's hash when the worker starts.
   */
  versioning?: WorkerVersioning;
}

export interface WorkerVersioning {
  deploymentName: string;
  buildId?: string;
  /**
   * Whether a starting worker makes its version current: when the deployment has none yet
   * (the default), always (a setup that replaces every worker at once, docker compose), or never
   * (the operator or a controller switches versions).
   */
  becomeCurrent: 'if-none' | 'always' | 'never';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Environment = Zod.output<ReturnType<typeof environmentSchema>>;
let schema: ReturnType<typeof environmentSchema> | undefined;

/** The variables that are set: an empty one counts as unset. */
const presentIn = (env: NodeJS.ProcessEnv): Record<string, string> =>
  Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = presentIn(env);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  schema ??= environmentSchema((require('zod') as { z: typeof Zod }).z);
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue.path[0] ?? '');
    const message = issue.message.startsWith(`${variable}:`) ? issue.message : `${variable}: ${issue.message}`;
    throw new ConfigError(`configuration: ${message}`);
  }
  const e: Environment = parsed.data;
  let microsoft: MicrosoftSettings | undefined;
  if (e.T2T_BACKEND === 'microsoft') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { loadMicrosoftSettings, MicrosoftSettingsError } = require('./microsoft/settings') as typeof import('./microsoft/settings');
    try {
      microsoft = loadMicrosoftSettings(present, e.T2T_OPERATION_BUDGET);
    } catch (err) {
      if (err instanceof MicrosoftSettingsError) throw new ConfigError(err.message);
      throw err;
    }
  }
  const escalationProblem = checkEscalateAfter(e.T2T_ESCALATE_AFTER, e.T2T_REMINDERS);
  if (escalationProblem) throw new ConfigError(`configuration: T2T_ESCALATE_AFTER: ${escalationProblem}`);
  if (e.T2T_EVIDENCE_HMAC_KEY && (e.T2T_EVIDENCE_SIGNING_KEY_FILE || e.T2T_EVIDENCE_PUBLIC_KEY_FILE)) {
    throw new ConfigError('configuration: T2T_EVIDENCE_HMAC_KEY: set either it or the Ed25519 key files (T2T_EVIDENCE_SIGNING_KEY_FILE, T2T_EVIDENCE_PUBLIC_KEY_FILE), not both');
  }
  checkPayloadKeys(e);
  if (Boolean(e.T2T_GATEWAY_TLS_CERT) !== Boolean(e.T2T_GATEWAY_TLS_KEY)) {
    throw new ConfigError('configuration: T2T_GATEWAY_TLS_CERT and T2T_GATEWAY_TLS_KEY: set both, or neither');
  }
  const temporalToken = temporalTokenSettings(e);
  const { dataDir, databaseUrl } = dataPlaces(e);
  return {
    temporalAddress: e.TEMPORAL_ADDRESS,
    namespace: e.TEMPORAL_NAMESPACE,
    ...(temporalToken ? { temporalToken } : {}),
    taskQueue: e.T2T_TASK_QUEUE,
    storageConnectionString: e.AZURE_STORAGE_CONNECTION_STRING,
    dataDir,
    databaseUrl,
    approvalTimeoutMs: e.T2T_APPROVAL_TIMEOUT,
    lockboxTimeoutMs: e.T2T_LOCKBOX_TIMEOUT,
    prepareWindowMs: e.T2T_PREPARE_WINDOW,
    sasValidityMs: e.T2T_SAS_VALIDITY,
    uiPort: e.T2T_UI_PORT,
    metricsAddress: e.T2T_METRICS_ADDRESS,
    healthAddress: e.T2T_HEALTH_ADDRESS,
    maxConcurrentActivities: e.T2T_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTasks: e.T2T_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxCachedWorkflows: e.T2T_MAX_CACHED_WORKFLOWS,
    shutdownGraceMs: e.T2T_SHUTDOWN_GRACE,
    remapBatchSize: e.T2T_REMAP_BATCH_SIZE,
    backend: e.T2T_BACKEND,
    microsoft,
    servicePollMs: e.T2T_SERVICE_POLL_INTERVAL,
    reconcileIntervalMs: e.T2T_RECONCILE_INTERVAL,
    checkBudgetMs: e.T2T_CHECK_BUDGET,
    continueAfterEvents: e.T2T_CONTINUE_AFTER_EVENTS,
    evidence: {
      ...(e.T2T_EVIDENCE_HMAC_KEY ? { hmacKey: e.T2T_EVIDENCE_HMAC_KEY } : {}),
      ...(e.T2T_EVIDENCE_SIGNING_KEY_FILE ? { signingKeyFile: path.resolve(e.T2T_EVIDENCE_SIGNING_KEY_FILE) } : {}),
      ...(e.T2T_EVIDENCE_PUBLIC_KEY_FILE ? { publicKeyFile: path.resolve(e.T2T_EVIDENCE_PUBLIC_KEY_FILE) } : {}),
      ...(e.T2T_EVIDENCE_KEY_ID ? { keyId: e.T2T_EVIDENCE_KEY_ID } : {}),
    },
    reminderLeadsMs: e.T2T_REMINDERS,
    escalateAfterMs: e.T2T_ESCALATE_AFTER,
    escalationContacts: e.T2T_ESCALATION_CONTACT ?? { byTenant: {} },
    smtpUrl: e.T2T_SMTP_URL,
    notifyFrom: e.T2T_NOTIFY_FROM,
    notifyBudgetMs: e.T2T_NOTIFY_BUDGET,
    signIn: signInSettings(e, dataDir),
    stall: { limitMs: e.T2T_STALL_AFTER, minSamples: e.T2T_STALL_MIN_SAMPLES, checkIntervalMs: e.T2T_STALL_CHECK_INTERVAL },
    payload: payloadSettings(e),
    codecServer: {
      ...(e.T2T_CODEC_ADDRESS ? { address: e.T2T_CODEC_ADDRESS } : {}),
      corsOrigins: e.T2T_CODEC_CORS_ORIGINS ?? [`http://localhost:${e.T2T_UI_PORT}`, `http://127.0.0.1:${e.T2T_UI_PORT}`],
      ...(e.T2T_CODEC_AUTH_TOKEN ? { authToken: e.T2T_CODEC_AUTH_TOKEN } : {}),
      signIn: e.T2T_CODEC_SIGN_IN,
      extraAudiences: e.T2T_CODEC_TOKEN_AUDIENCE ?? [],
    },
    ...(e.T2T_WORKER_VERSIONING === 'on'
      ? { versioning: { deploymentName: e.T2T_DEPLOYMENT_NAME, ...(e.T2T_BUILD_ID ? { buildId: e.T2T_BUILD_ID } : {}), becomeCurrent: e.T2T_BECOME_CURRENT } }
      : {}),
  };
}

/** The Temporal token's source, or one line naming what is missing or set twice. */
function temporalTokenSettings(e: Environment): TemporalTokenSettings | undefined {
  const clientCredentials = {
    T2T_TEMPORAL_TOKEN_URL: e.T2T_TEMPORAL_TOKEN_URL,
    T2T_TEMPORAL_CLIENT_ID: e.T2T_TEMPORAL_CLIENT_ID,
    T2T_TEMPORAL_TOKEN_SCOPE: e.T2T_TEMPORAL_TOKEN_SCOPE,
  };
  const anyClientCredential = Object.values(clientCredentials).some(Boolean) || e.T2T_TEMPORAL_CLIENT_SECRET || e.T2T_TEMPORAL_CLIENT_SECRET_FILE;
  if (e.T2T_TEMPORAL_TOKEN_FILE && anyClientCredential) {
    throw new ConfigError('configuration: T2T_TEMPORAL_TOKEN_FILE: set either it or client credentials (T2T_TEMPORAL_TOKEN_URL, T2T_TEMPORAL_CLIENT_ID, ...), not both');
  }
  if (e.T2T_TEMPORAL_TOKEN_FILE) return { file: path.resolve(e.T2T_TEMPORAL_TOKEN_FILE) };
  if (!anyClientCredential) return undefined;
  for (const [name, value] of Object.entries(clientCredentials)) {
    if (!value) throw new ConfigError(`configuration: ${name}: required with client credentials for Temporal (docs/deployment.md)`);
  }
  if (Boolean(e.T2T_TEMPORAL_CLIENT_SECRET) === Boolean(e.T2T_TEMPORAL_CLIENT_SECRET_FILE)) {
    throw new ConfigError('configuration: T2T_TEMPORAL_CLIENT_SECRET: set it or T2T_TEMPORAL_CLIENT_SECRET_FILE (one of them) with client credentials for Temporal');
  }
  return {
    tokenUrl: e.T2T_TEMPORAL_TOKEN_URL!,
    clientId: e.T2T_TEMPORAL_CLIENT_ID!,
    clientSecret: e.T2T_TEMPORAL_CLIENT_SECRET ? { value: e.T2T_TEMPORAL_CLIENT_SECRET } : { file: path.resolve(e.T2T_TEMPORAL_CLIENT_SECRET_FILE!) },
    scope: e.T2T_TEMPORAL_TOKEN_SCOPE!,
  };
}

/** The settings both readers take from the same variables, in the same way. */
type ConnectionVariables = Pick<
  Environment,
  'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'T2T_DATA_DIR' | 'T2T_DATABASE_URL' | 'T2T_PAYLOAD_ENCRYPTION' | 'T2T_PAYLOAD_KEYS' | 'T2T_PAYLOAD_KEYS_FILE' | 'T2T_PAYLOAD_KEY_ID'
>;

function checkPayloadKeys(e: ConnectionVariables): void {
  if (e.T2T_PAYLOAD_KEYS && e.T2T_PAYLOAD_KEYS_FILE) {
    throw new ConfigError('configuration: T2T_PAYLOAD_KEYS: set either it or T2T_PAYLOAD_KEYS_FILE, not both');
  }
  if (e.T2T_PAYLOAD_ENCRYPTION === 'off' && (e.T2T_PAYLOAD_KEYS || e.T2T_PAYLOAD_KEYS_FILE)) {
    throw new ConfigError('configuration: T2T_PAYLOAD_ENCRYPTION: is off while payload keys are configured; unset one of them');
  }
}

/** The sign-in variables, as both the whole schema and the acting client's reader (loadActingConfig) read them. */
type SignInVariables = Pick<
  Environment,
  'T2T_AUTH_AUTHORITY' | 'T2T_IDENTITY_PORT' | 'T2T_AUTH_CLIENT_ID' | 'T2T_AUTH_API' | 'T2T_TOKEN_CACHE' | 'T2T_GATEWAY_ADDRESS' | 'T2T_AUTH' | 'T2T_GATEWAY_URL'
> &
  Partial<Pick<Environment, 'T2T_GATEWAY_KEY_FILE' | 'T2T_GATEWAY_TLS_CERT' | 'T2T_GATEWAY_TLS_KEY' | 'T2T_GATEWAY_PUBLIC_KEYS_FILE'>>;

function signInSettings(e: SignInVariables, dataDir: string): SignInSettings {
  return {
    authority: e.T2T_AUTH_AUTHORITY ?? `https://localhost:${e.T2T_IDENTITY_PORT}`,
    sandbox: !e.T2T_AUTH_AUTHORITY || e.T2T_AUTH_AUTHORITY.replace(/\/$/, '') === `https://localhost:${e.T2T_IDENTITY_PORT}`,
    sandboxPort: e.T2T_IDENTITY_PORT,
    sandboxCertificateFile: path.join(dataDir, 'identity', 'tls-cert.pem'),
    clientId: e.T2T_AUTH_CLIENT_ID,
    api: e.T2T_AUTH_API,
    tokenCacheFile: path.resolve(e.T2T_TOKEN_CACHE ?? path.join(os.homedir(), '.t2t', 'token-cache.json')),
    gatewayAddress: e.T2T_GATEWAY_ADDRESS,
    ...(e.T2T_GATEWAY_KEY_FILE ? { gatewayKeyFile: path.resolve(e.T2T_GATEWAY_KEY_FILE) } : {}),
    ...(e.T2T_GATEWAY_TLS_CERT && e.T2T_GATEWAY_TLS_KEY ? { gatewayTls: { certFile: path.resolve(e.T2T_GATEWAY_TLS_CERT), keyFile: path.resolve(e.T2T_GATEWAY_TLS_KEY) } } : {}),
    auth: e.T2T_AUTH,
    gatewayUrl: (e.T2T_GATEWAY_URL ?? `http://${e.T2T_GATEWAY_ADDRESS}`).replace(/\/$/, ''),
    ...(e.T2T_GATEWAY_PUBLIC_KEYS_FILE ? { gatewayPublicKeysFile: path.resolve(e.T2T_GATEWAY_PUBLIC_KEYS_FILE) } : {}),
  };
}

/** What an action of `t2t` reads first: whether sign-in is on, and if so where the admin signs in and where the gateway is. */
export interface ActingConfig {
  signIn: SignInSettings;
}

const isUrlWith = (value: string, protocols: string[]): boolean => {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
};

/**
 * The sign-in settings an action reads, without zod or the rest of the schema, when each is unset or
 * plainly valid; undefined otherwise: the whole schema then reads them and says its one line for a
 * mistake. Loading zod was about a third of a signed-in `t2t approve`'s own start.
 */
export function loadActingConfig(env: NodeJS.ProcessEnv = process.env): ActingConfig | undefined {
  const present = presentIn(env);
  const auth = present.T2T_AUTH ?? 'on';
  const port = present.T2T_IDENTITY_PORT ?? '8235';
  const gatewayAddress = present.T2T_GATEWAY_ADDRESS ?? 'localhost:8236';
  const plain =
    (auth === 'on' || auth === 'off') &&
    /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535 &&
    HOST_PORT.pattern.test(gatewayAddress) &&
    (present.T2T_AUTH_AUTHORITY === undefined || isUrlWith(present.T2T_AUTH_AUTHORITY, ['https:'])) &&
    (present.T2T_GATEWAY_URL === undefined || isUrlWith(present.T2T_GATEWAY_URL, ['http:', 'https:']));
  if (!plain) return undefined;
  const e: SignInVariables = {
    T2T_AUTH_AUTHORITY: present.T2T_AUTH_AUTHORITY,
    T2T_IDENTITY_PORT: Number(port),
    T2T_AUTH_CLIENT_ID: present.T2T_AUTH_CLIENT_ID ?? 't2t-cli',
    T2T_AUTH_API: present.T2T_AUTH_API ?? 'api://t2t',
    T2T_TOKEN_CACHE: present.T2T_TOKEN_CACHE,
    T2T_GATEWAY_ADDRESS: gatewayAddress,
    T2T_AUTH: auth,
    T2T_GATEWAY_URL: present.T2T_GATEWAY_URL,
  };
  return { signIn: signInSettings(e, path.resolve(present.T2T_DATA_DIR ?? '.data')) };
}

function dataPlaces(e: ConnectionVariables): { dataDir: string; databaseUrl: string } {
  const dataDir = path.resolve(e.T2T_DATA_DIR);
  return { dataDir, databaseUrl: e.T2T_DATABASE_URL ?? path.join(dataDir, 'control-plane.sqlite') };
}

function payloadSettings(e: ConnectionVariables): PayloadSettings {
  return {
    ...(e.T2T_PAYLOAD_ENCRYPTION ? { encryption: e.T2T_PAYLOAD_ENCRYPTION } : {}),
    ...(e.T2T_PAYLOAD_KEYS ? { keys: e.T2T_PAYLOAD_KEYS } : {}),
    ...(e.T2T_PAYLOAD_KEYS_FILE ? { keysFile: path.resolve(e.T2T_PAYLOAD_KEYS_FILE) } : {}),
    ...(e.T2T_PAYLOAD_KEY_ID ? { keyId: e.T2T_PAYLOAD_KEY_ID } : {}),
  };
}

/** What `t2t status`, `requests` and an action read on their lean path (src/client/lean/): where Temporal is, the payload keys, the data. */
export type ConnectionConfig = Pick<Config, 'temporalAddress' | 'namespace' | 'dataDir' | 'databaseUrl' | 'payload' | 'temporalToken'>;

/**
 * The connection's settings alone, checked as loadConfig checks them and with the same one line,
 * without zod or the rest of the schema: a command that reads only these validates only these
 * (another variable's mistake stops the commands that use it).
 */
export function loadConnectionConfig(env: NodeJS.ProcessEnv = process.env): ConnectionConfig {
  const present = presentIn(env);
  const problem = (variable: string, message: string) => new ConfigError(`configuration: ${variable}: ${message}`);
  const address = present.TEMPORAL_ADDRESS ?? 'localhost:7233';
  if (!HOST_PORT.pattern.test(address)) throw problem('TEMPORAL_ADDRESS', HOST_PORT.message);
  const encryption = present.T2T_PAYLOAD_ENCRYPTION;
  if (encryption !== undefined && encryption !== 'on' && encryption !== 'off') throw problem('T2T_PAYLOAD_ENCRYPTION', ON_OFF_MESSAGE);
  const keyId = present.T2T_PAYLOAD_KEY_ID;
  if (keyId !== undefined && !PAYLOAD_KEY_ID.pattern.test(keyId)) throw problem('T2T_PAYLOAD_KEY_ID', PAYLOAD_KEY_ID.message);
  const e: ConnectionVariables = {
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: present.TEMPORAL_NAMESPACE ?? 'default',
    T2T_DATA_DIR: present.T2T_DATA_DIR ?? '.data',
    T2T_DATABASE_URL: present.T2T_DATABASE_URL,
    T2T_PAYLOAD_ENCRYPTION: encryption,
    T2T_PAYLOAD_KEYS: present.T2T_PAYLOAD_KEYS,
    T2T_PAYLOAD_KEYS_FILE: present.T2T_PAYLOAD_KEYS_FILE,
    T2T_PAYLOAD_KEY_ID: keyId,
  };
  checkPayloadKeys(e);
  // A token for Temporal's own authorization: read as the whole schema reads it (its URL is checked there).
  const temporalToken = temporalTokenSettings(present as unknown as Environment);
  return { temporalAddress: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE, ...dataPlaces(e), payload: payloadSettings(e), ...(temporalToken ? { temporalToken } : {}) };
}

/** What `t2t requests` reads besides the connection: the back end and the stall settings. */
export type ListingConfig = ConnectionConfig & { backend: BackendKind; stall: Pick<Config['stall'], 'limitMs' | 'minSamples'> };

/**
 * The connection's settings and the ones `t2t requests` reads, without the whole schema, when those are
 * unset or plainly readable (the simulated back end, a stall limit that is a duration); undefined
 * otherwise: the whole schema then reads them, and says its one line for a mistake.
 */
export function loadListingConfig(env: NodeJS.ProcessEnv = process.env): ListingConfig | undefined {
  const present = presentIn(env);
  if ((present.T2T_BACKEND ?? 'simulated') !== 'simulated' || present.T2T_STALL_MIN_SAMPLES !== undefined) return undefined;
  let limitMs: number;
  try {
    limitMs = parseDuration(present.T2T_STALL_AFTER ?? STALL_DEFAULTS.after);
  } catch {
    return undefined;
  }
  return { ...loadConnectionConfig(env), backend: 'simulated', stall: { limitMs, minSamples: STALL_DEFAULTS.minSamples } };
}
