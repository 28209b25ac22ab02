// The migration-service port (SPEC §6): what the workflow's activities and the
// client ask of the platform, at the level of Microsoft's tenant-to-tenant
// service, not of its internals. Two back ends implement it: the simulated one
// on the product's own control plane (the embedded default), and Microsoft's
// Power Platform admin API with Microsoft Graph for the directory.
import type { Readable } from 'node:stream';
import type { Action, ChecklistItem, EligibilityFinding, Phase, PreparationWarning, StorageInfo } from '../contracts';
import type { DirectoryLookup } from '../mapping/directory';
import type { AuthorizationResult } from '../migration/authorization';
import type { MigrationPeople } from '../migration/migration-people';

export const BACKENDS = ['simulated', 'microsoft'] as const;
export type BackendKind = (typeof BACKENDS)[number];

/** One migration as the service knows it. */
export interface ServiceMigration {
  /** the product's (source) migration id */
  migrationId: string;
  environmentId: string;
  sourceTenantId: string;
  targetTenantId: string;
  /** the service's own id of the request, once submitted (Microsoft's; the product's id on the simulated back end) */
  serviceMigrationId?: string;
  /**
   * the gateway's id of the signed action this call is made for (its proof's actionId): where the
   * tenant takes the admin's own token (on-behalf-of), the token handed over for that action
   */
  actionId?: string;
}

export interface Assessment {
  backend: BackendKind;
  environmentName: string;
  sourceTenantId: string;
  /** the tenant the environment belongs to now (the source tenant until it has moved) */
  environmentTenantId: string;
  sourceTenantName: string;
  targetTenantName: string;
  lockboxRequired: boolean;
  blocking: EligibilityFinding[];
  warnings: PreparationWarning[];
  /** what this back end could not know, in words an admin reads (empty on the simulated back end) */
  unknown: string[];
}

export interface Submission {
  serviceMigrationId: string;
  /** true when people can act on the request outside the product (Microsoft's admin center, PowerShell) */
  externalActions: boolean;
  /** true when the service runs a prepare of its own after the product's validation passed */
  servicePrepares: boolean;
}

/** The request's state on the service, for actions taken outside the product. */
export interface RequestState {
  state: 'pending' | 'approved' | 'denied' | 'deleted';
  /** who acted, as the service reports it */
  actedBy?: string;
}

export interface RequestListing {
  id: string;
  environmentId: string;
  targetTenantId: string;
  createdOn?: string;
  createdBy?: string;
  approvalStatus?: string;
  actedBy?: string;
}

export interface ApprovalListing {
  id: string;
  sourceMigrationId: string;
  tenantId?: string;
  environmentName?: string;
  createdBy?: string;
  createdOn?: string;
  state?: string;
}

/** The migration's blob container, as the mapping activities read and write it. */
export interface MappingContainer {
  /** Opens a blob with the ETag of the version read; undefined when absent; BlobChangedError when `etag` no longer matches. */
  openVersion(blobName: string, etag?: string): Promise<{ body: NodeJS.ReadableStream; etag: string } | undefined>;
  blobNames(): Promise<string[]>;
  writeStream(blobName: string, body: Readable, contentType: string): Promise<void>;
  /** A link the admin can read the blob with. */
  blobReadUrl(blobName: string): string;
}

/** What a long operation may do while it runs (an activity's heartbeat and cancellation). */
export interface OperationContext {
  /** progress to resume from, recorded by an earlier attempt */
  resumed?: unknown;
  heartbeat(progress: unknown): void;
  signal: AbortSignal;
  /** a warning for the worker's log (the activity's logger) */
  log?(message: string): void;
}

/** What an admin may add to prepare and migrate on Microsoft's service. */
export interface PrepareOptions {
  /** a guest admin of the target tenant (`--guest-admin`), sent as the module's GuestAdminUserEmail */
  guestAdmin?: string;
}

export interface ServicePrepareResult {
  succeeded: boolean;
  /** the service's words when it refused the mapping */
  message?: string;
  /** a link to the service's error report, when it gives one */
  errorReportUrl?: string;
}

export interface MigrateOutcome {
  usersRemapped: number;
  unmappedTotal: number;
  mailboxesConfigured: number;
  mailboxesToReconfigure: number;
  onmicrosoftAddressesRewritten: number;
  checklist: ChecklistItem[];
  flowActivationOrder: string[];
  /** what the back end could not know about the result (the counts above are 0 then) */
  unknown: string[];
  /** how long each migrate step took, in ms, where the back end runs the steps itself (a rehearsal reports them) */
  stepDurationsMs?: Record<string, number>;
}

/** The failure type of what a back end cannot do at all (copy an environment on Microsoft's service): retrying cannot help. */
export const NOT_SUPPORTED = 'NotSupported';

/** A copy of an environment, made for a rehearsal. */
export interface EnvironmentCopy {
  environmentId: string;
  copyOf: string;
  name: string;
  tenantId: string;
  users: number;
}

/** The people behind a migration's counts, and who was re-mapped to whom: personal data, never in workflow history. */
export interface MigrationNames extends MigrationPeople {
  remapped: { sourceUpn: string; targetUpn: string }[];
}

export interface MigrationService {
  readonly backend: BackendKind;

  /** The tenants in which `actor` is a user (the product's view of who an admin is). */
  tenantsOf(actor: string): Promise<string[]>;
  /** Eligibility, names and preparation warnings, at submit and again before migrate. */
  assess(environmentId: string, targetTenantId: string): Promise<Assessment>;
  /** Whether `actor` holds the role `action` needs in the tenant it belongs to. */
  authorize(action: Action, actor: string, tenants: { sourceTenantId: string; targetTenantId: string }): Promise<AuthorizationResult>;

  submit(migration: ServiceMigration, submittedBy: string): Promise<Submission>;
  listRequests(sourceTenantId: string): Promise<RequestListing[]>;
  listApprovals(targetTenantId: string): Promise<ApprovalListing[]>;
  requestState(migration: ServiceMigration): Promise<RequestState>;
  /** `actor` is the admin the product checked; on Microsoft's service the app acts on their behalf. */
  approve(migration: ServiceMigration, actor: string): Promise<void>;
  deny(migration: ServiceMigration, actor: string, reason: string): Promise<void>;
  approveLockbox(migration: ServiceMigration, actor: string): Promise<void>;

  /** Generates the resource storage; preconditions (administration mode, Basic User) refused with PreconditionFailed. */
  createStorage(migration: ServiceMigration, actor: string): Promise<StorageInfo>;
  /** Ends every access to the storage that the product can end; idempotent. */
  revokeStorage(storage: StorageInfo): Promise<void>;
  mappingContainer(storage: StorageInfo): MappingContainer;

  /** The service's own prepare, after the product's validation passed. */
  prepare(migration: ServiceMigration, storage: StorageInfo, operation: OperationContext, options?: PrepareOptions): Promise<ServicePrepareResult>;
  /** The request's status as the service reports it, raw (its shape is not documented). */
  status(migration: ServiceMigration): Promise<unknown>;
  /** Runs every migrate step; resumable from `operation.resumed`; each step safe to repeat. */
  migrate(
    migration: ServiceMigration & { storage: StorageInfo; mappingEtag?: string } & PrepareOptions,
    operation: OperationContext,
  ): Promise<MigrateOutcome>;
  cancel(migration: ServiceMigration, actor: string): Promise<void>;
  /** Records how the migration ended, where the back end keeps requests; idempotent. */
  closeRequest(migration: ServiceMigration, phase: Phase): Promise<void>;

  // ---- rehearsals and move-backs (docs/runbook.md); additive: a back end that cannot says so ----

  /** Whether this back end can copy an environment, which a rehearsal (`t2t rehearse`) needs. */
  readonly canCopyEnvironments: boolean;
  /** A marked copy of the environment and its users, in the same tenant; idempotent for one copy id. */
  copyEnvironment(environmentId: string, copyId: string): Promise<EnvironmentCopy>;
  /** Removes a copy made by copyEnvironment, with its users and re-mappings; false when already gone. Refuses anything else. */
  removeEnvironmentCopy(copyId: string): Promise<boolean>;
  /**
   * A migration as the back end recorded it (its environment, tenants and how it ended), for checking a
   * move-back's link to the migration it reverses; absent where the back end keeps no such record.
   */
  recordedMigration?(migrationId: string): Promise<{ environmentId: string; sourceTenantId: string; targetTenantId: string; status: string } | undefined>;
  /** Who a migration re-mapped, left out or left with a mailbox to reconfigure; undefined where the back end does not record it. */
  migrationPeople(migration: ServiceMigration): Promise<MigrationNames | undefined>;
  /**
   * Storage for a mapping file the product writes itself before anyone asks for storage (a rehearsal's,
   * a move-back's inverse mapping): the container `createStorage` gives the migration with this id later.
   */
  stagingStorage(migrationId: string): Promise<StorageInfo>;

  directory: DirectoryLookup;
  close(): Promise<void>;
}
