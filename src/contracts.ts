// Message contracts shared by workflow, worker, client and tests (SPEC §2, §7).
// Wire names here never change once shipped: other people's scripts send these
// signals with `temporal workflow signal` and filter on these search attributes.
import type { SearchAttributePair } from '@temporalio/common';
import { defineQuery, defineSearchAttributeKey, defineSignal, defineUpdate, SearchAttributeTypes as SearchAttributeType } from './contract-definitions';
import type { z as Zod } from 'zod';
import { isEmail } from './mapping/email';
import type { ActionProof } from './identity/action-proof';

// zod is loaded when a schema is first used, not when this module is: the workflow bundle
// evaluates its modules once per workflow (each has its own module cache), and a migration
// that waits for a person, or whose payloads pass the inbox's own checks, never needs zod.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const zod = (): typeof Zod => (require('zod') as { z: typeof Zod }).z;

/** A schema built on first use; it answers like the schema itself (parse, safeParse, shape, ...). */
function lazySchema<T extends object>(build: (z: typeof Zod) => T): T {
  let schema: T | undefined;
  const real = (): T => (schema ??= build(zod()));
  return new Proxy({} as T, {
    get(_target, key) {
      const target = real();
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    has: (_target, key) => Reflect.has(real(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  });
}

export const PHASES = [
  'Submitted',
  'PendingApproval',
  'PendingLockbox',
  'Approved',
  'Validating',
  'ValidationFailed',
  'Prepared',
  'PreparationExpired',
  'Migrating',
  'Succeeded',
  'Failed',
  'Denied',
  'Expired',
  'Cancelled',
  /** the workflow was closed without finishing (terminate, timeout); set by the reconciler, never by the workflow */
  'Terminated',
] as const;
export type Phase = (typeof PHASES)[number];
export const FINAL_PHASES: readonly Phase[] = ['Succeeded', 'Failed', 'Denied', 'Expired', 'Cancelled', 'Terminated'];
export const isFinalPhase = (phase: Phase): boolean => FINAL_PHASES.includes(phase);

/**
 * The phase of a run that closed with none of our code ending it (its own state and T2TPhase
 * still show where it stopped): terminated or timed out → Terminated, failed → Failed.
 */
export function phaseOfUnfinishedRun(runStatus: string | undefined): 'Terminated' | 'Failed' | undefined {
  if (runStatus === 'TERMINATED' || runStatus === 'TIMED_OUT') return 'Terminated';
  if (runStatus === 'FAILED') return 'Failed';
  return undefined;
}

/** Status strings shown to admins, word for word from the article (SPEC §2). */
export const STATUS = {
  validateRunning: 'Validate Tenant To Tenant Migration: Running',
  validateSucceeded: 'Validate Tenant To Tenant Migration: Succeeded',
  validationFailed: (errorReportUrl: string) =>
    `Validation Failed, Errors are updated on the blob here: ${errorReportUrl}`,
  migrateRunning: 'Migrate Environment: Running',
  migrateSucceeded: 'Migrate Environment: Succeeded',
  migrateFailed: 'Migrate Environment: Failed',
} as const;

// ---- signals -------------------------------------------------------------
// Every payload carries the acting admin's UPN. `requestId` lets a client find
// the outcome of its own signal in the audit trail (accepted or refused).
const actor = (z: typeof Zod) => z.string().trim().min(3).max(320);
const requestId = (z: typeof Zod) => z.string().max(100).optional();
/** `--guest-admin`: a guest admin of the target tenant, which Microsoft's service takes on prepare and migrate. */
const guestAdmin = (z: typeof Zod) => z.string().trim().max(254).refine(isEmail, 'guestAdmin must be an email address').optional();

export const ApproveSchema = lazySchema((z) => z.object({ actor: actor(z), requestId: requestId(z) }));
export const DenySchema = lazySchema((z) => z.object({ actor: actor(z), requestId: requestId(z), reason: z.string().trim().max(2000).default('') }));
export const ApproveLockboxSchema = lazySchema((z) => z.object({ actor: actor(z), requestId: requestId(z) }));
export const RequestStorageSchema = lazySchema((z) => z.object({ actor: actor(z), requestId: requestId(z) }));
export const PrepareSchema = lazySchema((z) =>
  z.object({
    actor: actor(z),
    requestId: requestId(z),
    targetTenantId: z.string().min(1),
    mappingContainer: z.string().min(1),
    guestAdmin: guestAdmin(z),
  }),
);
export const MigrateSchema = lazySchema((z) =>
  z.object({
    actor: actor(z),
    requestId: requestId(z),
    targetTenantId: z.string().min(1),
    /** book the cutover for this time (ISO 8601) instead of migrating now */
    at: z.string().max(64).optional(),
    /** clear the booked cutover */
    unschedule: z.boolean().optional(),
    guestAdmin: guestAdmin(z),
  }),
);
export const CancelSchema = lazySchema((z) => z.object({ actor: actor(z), requestId: requestId(z), reason: z.string().max(2000).optional() }));


// Signal payloads are typed `unknown` on purpose: anyone can send anything with
// the Temporal CLI, and the workflow validates and records bad input instead of failing.
export const approveSignal = defineSignal<[unknown]>('approve');
export const denySignal = defineSignal<[unknown]>('deny');
export const approveLockboxSignal = defineSignal<[unknown]>('approveLockbox');
export const requestStorageSignal = defineSignal<[unknown]>('requestStorage');
export const prepareSignal = defineSignal<[unknown]>('prepare');
export const migrateSignal = defineSignal<[unknown]>('migrate');
export const cancelSignal = defineSignal<[unknown]>('cancel');

// Updates of the same names and payloads: the answer is the audit entry of the action
// (accepted, or refused with the reason). Their validators reject a malformed payload
// or an action the current phase cannot take without writing history.
export const approveUpdate = defineUpdate<AuditEntry, [unknown]>('approve');
export const denyUpdate = defineUpdate<AuditEntry, [unknown]>('deny');
export const approveLockboxUpdate = defineUpdate<AuditEntry, [unknown]>('approveLockbox');
export const requestStorageUpdate = defineUpdate<AuditEntry, [unknown]>('requestStorage');
export const prepareUpdate = defineUpdate<AuditEntry, [unknown]>('prepare');
export const migrateUpdate = defineUpdate<AuditEntry, [unknown]>('migrate');
export const cancelUpdate = defineUpdate<AuditEntry, [unknown]>('cancel');

/** The admin actions' Updates (SPEC §3), by action: what the Temporal client's path and the lean path send. */
export const actionUpdates = {
  approve: approveUpdate,
  deny: denyUpdate,
  approveLockbox: approveLockboxUpdate,
  requestStorage: requestStorageUpdate,
  prepare: prepareUpdate,
  migrate: migrateUpdate,
  cancel: cancelUpdate,
} as const;

/**
 * Answers with the migration's status once its submission is settled (the first phase after
 * Submitted). `t2t submit` sends it with the start (update-with-start), so the client learns the
 * outcome in one call instead of polling the status query.
 */
export const submittedUpdate = defineUpdate<MigrationStatus, []>('submitted');

export const ACTIONS = ['submit', 'approve', 'deny', 'approveLockbox', 'requestStorage', 'prepare', 'migrate', 'cancel'] as const;
export type Action = (typeof ACTIONS)[number];

// ---- query ---------------------------------------------------------------
export interface AuditEntry {
  at: string;
  action: Action;
  actor: string;
  outcome: 'accepted' | 'refused';
  reason?: string;
  requestId?: string;
  /** how the product learned of the action, when not from its own client (e.g. Microsoft's admin center) */
  note?: string;
  /**
   * the gateway's signed proof the action carried (T2T_AUTH=on): the verified claims of who acted and the
   * gateway's signature, which `t2t evidence verify` checks offline against the gateway's published keys
   */
  proof?: ActionProof;
}

export interface EligibilityFinding {
  code: string;
  message: string;
}
export interface PreparationWarning {
  component: string;
  message: string;
  action: string;
}

export interface StorageInfo {
  containerName: string;
  /** container SAS (read, add, create, write, list) bound to a stored access policy */
  sasUrl: string;
  expiresOn: string;
}

export interface ValidationInfo {
  round: number;
  rows: number;
  errors: number;
  errorReportUrl?: string;
  finishedAt?: string;
  /** the version of the mapping file this round read; re-mapping reads that version only */
  mappingEtag?: string;
  /** SHA-256 (hex) of that version's bytes, hashed as the validation read them; absent when there was no file */
  mappingSha256?: string;
}

/** One phase change, with the article's status string shown from then on (if any). */
export interface StatusChange {
  at: string;
  phase: Phase;
  status?: string;
}

export interface ChecklistItem {
  kind: string;
  title: string;
  details: string[];
}

/**
 * Counts only: who was re-mapped, left out or needs a mailbox is personal data
 * and stays in the control plane (`t2t status` reads the names from there).
 */
export interface MigrationSummary {
  usersRemapped: number;
  unmappedUsers: number;
  mailboxesConfigured: number;
  mailboxesToReconfigure: number;
  onmicrosoftAddressesRewritten: number;
  checklist: ChecklistItem[];
  flowActivationOrder: string[];
}

export interface MigrationStatus {
  migrationId: string;
  targetMigrationId: string;
  environmentId: string;
  environmentName?: string;
  sourceTenantId?: string;
  targetTenantId: string;
  phase: Phase;
  /** the article's status string for the current step, when there is one */
  status?: string;
  reason?: string;
  submittedAt: string;
  approvalDeadline?: string;
  lockboxDeadline?: string;
  prepareDeadline?: string;
  /** the cutover booked with `t2t migrate --at`: migrate starts then by itself (docs/operations.md) */
  scheduledMigrateAt?: string;
  /** who booked it: only they move, clear or start it early */
  scheduledBy?: string;
  /** the guest admin the accepted migrate names for Microsoft's service (`t2t migrate --guest-admin`) */
  guestAdmin?: string;
  /** set by the stall check while the current phase has run past its usual time; cleared by the next phase */
  stalled?: { phase: Phase; since: string; thresholdMs: number; basis: 'p90' | 'limit'; markedAt: string };
  lockboxRequired: boolean;
  warnings: PreparationWarning[];
  storage?: StorageInfo;
  validation?: ValidationInfo;
  summary?: MigrationSummary;
  audit: AuditEntry[];
  /** the back end that carries the migration out, and its id for the request */
  backend?: 'simulated' | 'microsoft';
  serviceMigrationId?: string;
  /** what the back end could not know (e.g. the component inventory on Microsoft's service) */
  unknown?: string[];
  /** a batch's migration whose migrate was accepted: waiting for one of the batch's migrate slots, or holding one */
  migrateSlot?: 'requested' | 'granted';
  /**
   * The token of the migration's current slot request, fresh for each request: a grant that carries
   * another one was meant for a request withdrawn since, and is ignored.
   */
  migrateSlotRequest?: string;
  /**
   * Every phase change and the status string it showed, oldest first (the most recent 200; a migration
   * started before this field existed has those since). The evidence pack's status strings in order.
   */
  statusLog?: StatusChange[];
  /** a move-back (`t2t moveback`): the source migration id of the migration this one reverses */
  reversesMigrationId?: string;
  /**
   * The move-back that reverses this migration, when one was opened: filled in by the client from the
   * reverse migration's memo and search attributes (never by the workflow, whose run has ended by then).
   */
  reversedBy?: { migrationId: string; phase?: Phase };
}

export const statusQuery = defineQuery<MigrationStatus>('status');

// ---- workflow input ------------------------------------------------------
export interface MigrationInput {
  migrationId: string;
  targetMigrationId: string;
  environmentId: string;
  targetTenantId: string;
  submittedBy: string;
  /** durations in ms, fixed at submit so that a running migration keeps its rules */
  approvalTimeoutMs: number;
  lockboxTimeoutMs: number;
  prepareWindowMs: number;
  /** how often the request's state on the service is read while people are awaited (default 5 min) */
  servicePollMs?: number;
  /** how long a role or storage check may keep retrying before the action is refused (default 3 min) */
  checkBudgetMs?: number;
  /** a waiting migration continues as new past this many history events, or when Temporal suggests it (default 10,000) */
  continueAfterEvents?: number;
  /** set by continue-as-new: where the migration stood, so that the new run goes on from there */
  resume?: CarriedMigration;
  /** set when a batch started the migration: it asks the batch for a migrate slot and reports its end to it */
  batch?: { workflowId: string };
  /** a move-back: the source migration id of the migration it reverses (shown in status and the Web UI) */
  reversesMigrationId?: string;
  /** the gateway's signed proof of the submit (action 'submit', see submitProofPayload): required when T2T_AUTH=on */
  proof?: ActionProof;
}

/** What a migration carries into its next run (continue-as-new): its state, with absolute deadlines. */
export interface CarriedMigration {
  state: MigrationStatus;
  sourceTenantId: string;
  validationRound: number;
  externalActions: boolean;
  servicePrepares: boolean;
  nextWatchAt: number;
  /** the ids of the actions handled most recently (Update ids, or a signal's requestId): a repeat is not applied again */
  handledActionIds?: string[];
  /** the action ids of the gateway's proofs this migration has checked most recently (T2T_AUTH=on): a proof used again is a replay */
  usedProofIds?: string[];
}

export const MIGRATION_WORKFLOW_TYPE = 'tenantMigration';

/** One open migration per environment: the workflow id is derived from the environment id. */
export const migrationWorkflowId = (environmentId: string): string => `t2t-${environmentId}`;

// ---- batches ----------------------------------------------------------------
export interface BatchEnvironment {
  environmentId: string;
  migrationId: string;
  targetMigrationId: string;
}

export interface BatchInput {
  batchId: string;
  sourceTenantId: string;
  targetTenantId: string;
  submittedBy: string;
  environments: BatchEnvironment[];
  /** how many migrations may hold a migrate slot (be migrating) at once; those waiting for people hold none */
  concurrency: number;
  approvalTimeoutMs: number;
  lockboxTimeoutMs: number;
  prepareWindowMs: number;
  /** the batch continues as new before its history passes this many events, or when Temporal suggests it (default 10,000) */
  continueAfterEvents?: number;
  /** set by continue-as-new: the batch's progress so far */
  resume?: CarriedBatch;
  /** the gateway's signed proof of the submit (action 'submit', migrationId = batchId, see submitBatchProofPayload): required when T2T_AUTH=on */
  proof?: ActionProof;
}

/**
 * What a batch carries into its next run. Compact, because the input already holds every
 * environment: a batch of thousands must stay well under Temporal's payload limit (2 MB).
 */
export interface CarriedBatch {
  /** how many environments, in input order, have been started (or failed to start) */
  started: number;
  /** the environments that ended: [index in `environments`, phase, index in `reasons` or -1] */
  endings: [number, Phase, number][];
  /** each distinct reason once: thousands of environments often end for the same one */
  reasons: string[];
  /** environment ids holding a migrate slot, and those waiting for one, first come first served */
  slotHolders: string[];
  slotQueue: string[];
  /** environment id → the token of the request it holds or waits with (those in the two lists only) */
  slotRequests: Record<string, string>;
  /** runs before this one */
  runs: number;
}

export interface BatchOutcome extends BatchEnvironment {
  /** waiting: not started yet; running: started and not ended; ended: it reported its end */
  state: 'waiting' | 'running' | 'ended';
  /** queued: its migrate was accepted and it waits for a slot; held: it is migrating in one */
  migrateSlot?: 'queued' | 'held';
  phase?: Phase;
  reason?: string;
}

export interface BatchStatus {
  batchId: string;
  sourceTenantId: string;
  targetTenantId: string;
  concurrency: number;
  outcomes: BatchOutcome[];
  /** final phase → how many environments ended in it */
  summary: Record<string, number>;
  /** how many migrations hold a migrate slot now (at most `concurrency`), and how many wait for one */
  migrating: number;
  waitingForSlot: number;
  /** the batch's run (1 for the first; each continue-as-new adds one) */
  run: number;
  done: boolean;
}

/** What a batch returns when every migration has ended; each environment's outcome is in its `batchStatus` query. */
export type BatchResult = Omit<BatchStatus, 'outcomes'>;

// Between a batch and its migrations, workflow to workflow, by workflow id (never a run id:
// either side may have continued as new). Each names the environment, so that a signal
// repeated by the sender's retries changes nothing; the slot signals also name the request
// (a token fresh for each), so that a late one meant for a withdrawn request changes nothing either.
export const MigrateSlotSchema = lazySchema((z) => z.object({ environmentId: z.string().min(1), request: z.string().min(1) }));
export const MigrationEndedSchema = lazySchema((z) => z.object({ environmentId: z.string().min(1), phase: z.enum(PHASES), reason: z.string().optional() }));
export type MigrateSlotSignal = Zod.infer<typeof MigrateSlotSchema>;
export type MigrationEndedSignal = Zod.infer<typeof MigrationEndedSchema>;
/** migration → batch: its migrate was accepted; it migrates once granted a slot */
export const requestMigrateSlotSignal = defineSignal<[unknown]>('requestMigrateSlot');
/** batch → migration: a slot is the migration's until it ends or gives it back */
export const grantMigrateSlotSignal = defineSignal<[unknown]>('grantMigrateSlot');
/** migration → batch: it no longer wants its slot, or its request (window lapsed, prepare again, migrate undone) */
export const returnMigrateSlotSignal = defineSignal<[unknown]>('returnMigrateSlot');
/** migration → batch: it ended (any ending), which frees its slot and request; the reconciler sends it for a migration terminated or timed out */
export const migrationEndedSignal = defineSignal<[unknown]>('migrationEnded');

export const batchStatusQuery = defineQuery<BatchStatus>('batchStatus');
export const BATCH_WORKFLOW_TYPE = 'batchMigration';
export const batchWorkflowId = (batchId: string): string => `t2t-batch-${batchId}`;

// ---- rehearsals ---------------------------------------------------------------
// `t2t rehearse`: the whole migrate on a copy of the environment, without approvals,
// to learn what the real run will do and how long its cutover takes.

export interface RehearsalInput {
  /** the rehearsal's own id (a UUID): it names its container and its re-mapping records, as a migration id does */
  rehearsalId: string;
  environmentId: string;
  targetTenantId: string;
  /** the admin who asked for it: the same role as submit (an admin of the source tenant) */
  requestedBy: string;
  /** the container usermapping.csv was put in for the rehearsal */
  storage: StorageInfo;
  /** the id the copy gets (rehearsalCopyId): from it, a copy left behind leads back to its rehearsal */
  copyEnvironmentId: string;
  /** the gateway's signed start (action 'rehearse', submitRehearsalProofPayload); required when the worker enforces sign-in */
  proof?: ActionProof;
}

/** Running until it ends; Refused: nothing was copied (role, eligibility); the others ran on the copy. */
export const REHEARSAL_OUTCOMES = ['Running', 'Succeeded', 'Refused', 'ValidationFailed', 'Failed', 'Cancelled'] as const;
export type RehearsalOutcome = (typeof REHEARSAL_OUTCOMES)[number];

/** One step of the rehearsal and how long it took; `cutover`: the real migrate runs it too, inside the maintenance window. */
export interface RehearsalStep {
  step: string;
  title: string;
  ms: number;
  cutover: boolean;
}

/**
 * What a rehearsal found, counts only: who would be re-mapped, left behind or need a mailbox is
 * personal data, written next to the mapping in the rehearsal's container (`peopleBlob`), not here.
 */
export interface RehearsalReport {
  rehearsalId: string;
  environmentId: string;
  environmentName?: string;
  /** the copy the migrate ran on, removed when the rehearsal ended */
  copyEnvironmentId?: string;
  sourceTenantId?: string;
  targetTenantId: string;
  outcome: RehearsalOutcome;
  reason?: string;
  startedAt: string;
  finishedAt?: string;
  /** the preparation warnings the real migration will show */
  warnings: PreparationWarning[];
  /** what the real run would stop at, besides the warnings (e.g. storage refused: administration mode off) */
  findings: string[];
  validation?: ValidationInfo;
  /** what the migrate did on the copy: what the real one will do */
  summary?: MigrationSummary;
  steps: RehearsalStep[];
  /** the steps the real cutover runs (validation again, then every migrate step), summed: the maintenance window to book */
  cutoverMs?: number;
  /** the blob, in the rehearsal's container, naming the users behind the summary's counts */
  peopleBlob?: string;
  copyRemoved: boolean;
}

export const rehearsalStatusQuery = defineQuery<RehearsalReport>('rehearsalStatus');
export const REHEARSAL_WORKFLOW_TYPE = 'rehearseMigration';
/** Deterministic, readable in the Web UI's list: the environment and the moment it was asked for (UTC, to the millisecond). */
export const rehearsalWorkflowId = (environmentId: string, at: Date): string => `t2t-rehearsal-${environmentId}-${rehearsalStamp(at)}`;
/** The copy a rehearsal makes: marked as one in its id too, and named after the same moment as its workflow. */
export const rehearsalCopyId = (environmentId: string, at: Date): string => `${environmentId}~rehearsal-${rehearsalStamp(at)}`;
/** The rehearsal workflow that made a copy (for copies left by a rehearsal that was terminated). */
export function rehearsalWorkflowIdOfCopy(copy: { id: string; copyOf?: string }): string | undefined {
  const at = copy.id.lastIndexOf('~rehearsal-');
  return copy.copyOf && at > 0 ? `t2t-rehearsal-${copy.copyOf}-${copy.id.slice(at + '~rehearsal-'.length)}` : undefined;
}
const rehearsalStamp = (at: Date): string => at.toISOString().replace(/[-:.]/g, '');

// ---- search attributes ---------------------------------------------------
export const SearchAttributes = {
  phase: defineSearchAttributeKey('T2TPhase', SearchAttributeType.KEYWORD),
  environmentId: defineSearchAttributeKey('T2TEnvironmentId', SearchAttributeType.KEYWORD),
  sourceTenantId: defineSearchAttributeKey('T2TSourceTenantId', SearchAttributeType.KEYWORD),
  targetTenantId: defineSearchAttributeKey('T2TTargetTenantId', SearchAttributeType.KEYWORD),
  sourceMigrationId: defineSearchAttributeKey('T2TSourceMigrationId', SearchAttributeType.KEYWORD),
  targetMigrationId: defineSearchAttributeKey('T2TTargetMigrationId', SearchAttributeType.KEYWORD),
  prepareDeadline: defineSearchAttributeKey('T2TPrepareDeadline', SearchAttributeType.DATETIME),
  /** the booked cutover (t2t migrate --at), cleared when it runs or is unbooked */
  scheduledMigrateAt: defineSearchAttributeKey('T2TScheduledMigrateAt', SearchAttributeType.DATETIME),
  /** true while the migration's current phase has run past that phase's usual time (docs/operations.md) */
  stalled: defineSearchAttributeKey('T2TStalled', SearchAttributeType.BOOL),
} as const;

/** How the temporal CLI and the operator API spell each search attribute type we use. */
export const SEARCH_ATTRIBUTE_TYPE_NAMES: Record<string, 'Keyword' | 'Datetime' | 'Bool'> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.BOOL]: 'Bool',
};

export const ALL_SEARCH_ATTRIBUTES = Object.values(SearchAttributes);

/** The search attributes a migration starts with, whoever starts it (the client or a batch). */
export function initialSearchAttributes(migration: MigrationInput, sourceTenantId: string): SearchAttributePair[] {
  return [
    { key: SearchAttributes.phase, value: 'Submitted' },
    { key: SearchAttributes.environmentId, value: migration.environmentId },
    { key: SearchAttributes.sourceTenantId, value: sourceTenantId },
    { key: SearchAttributes.targetTenantId, value: migration.targetTenantId },
    { key: SearchAttributes.sourceMigrationId, value: migration.migrationId },
    { key: SearchAttributes.targetMigrationId, value: migration.targetMigrationId },
  ];
}

// ---- failure types ---------------------------------------------------------
/** ApplicationFailure types; the ones retrying cannot fix are listed as non-retryable on the proxies. */
export const ErrorType = {
  NotEligible: 'NotEligible',
  NotFound: 'NotFound',
  PreconditionFailed: 'PreconditionFailed',
  MappingInvalidAtMigrate: 'MappingInvalidAtMigrate',
  /** the mapping file was replaced after it passed validation */
  MappingChanged: 'MappingChanged',
  /** thrown by the control plane (the error's name): an environment or tenant it does not hold */
  ControlPlaneNotFound: 'ControlPlaneNotFoundError',
  /** Microsoft's service refused the call for good (401, 403, 4xx): retrying cannot help */
  ServiceRefused: 'ServiceRefused',
  /** a migrate step failed for good and the steps before it were undone: prepare and migrate may run again */
  MigrateCompensated: 'MigrateCompensated',
  /** a migrate step failed for good and undoing the steps before it failed too */
  CompensationFailed: 'CompensationFailed',
} as const;
export const NON_RETRYABLE_ERRORS = Object.values(ErrorType);
