// The one narrow interface through which activities and the CLI act on the
// platform (SPEC §6). The embedded default is a SQLite file; PostgreSQL serves
// several workers. An adapter for Microsoft's real APIs would implement this too.
import type { World } from './world';

export type Cloud = 'Public' | 'GCC' | 'GCCHigh' | 'DoD';
export type EnvironmentType = 'Production' | 'Sandbox' | 'Default' | 'Developer' | 'Trial' | 'Teams';

export interface TenantRecord {
  id: string;
  name: string;
  cloud: Cloud;
  geo: string | null;
  defaultDomain: string;
  domains: string[];
  lockboxEnabled: boolean;
  /** who is told when a deadline of this tenant passes its last reminder without action (world file, optional) */
  escalationContact?: string;
}

export interface TenantUserRecord {
  tenantId: string;
  upn: string;
  enabled: boolean;
  licenses: string[];
  mailbox: boolean;
  roles: string[];
}

export interface FlowComponent {
  id: string;
  name: string;
  inSolution: boolean;
  state: 'On' | 'Off';
  trigger?: string;
  childFlows: string[];
  connectionReferences: string[];
}

export interface EnvironmentComponents {
  flows: FlowComponent[];
  canvasApps: { id: string; name: string; solutionAware: boolean }[];
  bots: { id: string; name: string }[];
  websites: { id: string; name: string; portalType: string; language: string }[];
  marketing: boolean;
  unsupported: string[];
  customConnectors: { id: string; name: string }[];
  connections: { id: string; name: string }[];
  gateways: { id: string; name: string }[];
  settings: string[];
}

export interface EnvironmentRecord {
  id: string;
  name: string;
  type: EnvironmentType;
  url: string;
  orgId: string;
  tenantId: string;
  adminMode: boolean;
  geo: string | null;
  managed: boolean;
  linkedToFinanceOperations: boolean;
  /** false once the environment has been made inaccessible from its former tenant */
  sourceAccess: boolean;
  /** the tenant the environment was migrated from, if any */
  previousTenantId: string | null;
  components: EnvironmentComponents;
  /** set on a copy made for a rehearsal (`t2t rehearse`): the environment it copies */
  copyOf?: string;
}

export interface EnvironmentUserRecord {
  environmentId: string;
  /** the identity the user has in the environment now */
  upn: string;
  roles: string[];
  /** set once re-mapped: the identity it had before */
  previousUpn: string | null;
}

export interface RemapResult {
  /** true if this call changed the user; false if it had already been re-mapped (idempotent retry) */
  applied: boolean;
  /** the source user is not a user of the environment: nothing to re-map */
  notInEnvironment?: boolean;
}

export interface UserRemap {
  sourceUpn: string;
  targetUpn: string;
}

/**
 * Pending and Approved are open; the rest are closed: Rejected (denied), Deleted (cancelled),
 * Succeeded, Failed and Expired as the workflow ended it, Terminated when the reconciler found
 * its workflow closed without our code running (terminate, timeout).
 */
export type RequestApprovalStatus = 'Pending' | 'Approved' | 'Rejected' | 'Deleted' | 'Succeeded' | 'Failed' | 'Expired' | 'Terminated';
export const OPEN_REQUEST_STATUSES: readonly RequestApprovalStatus[] = ['Pending', 'Approved'];

/** A migration request as the simulated service registers it. */
export interface MigrationRequestRecord {
  id: string;
  environmentId: string;
  sourceTenantId: string;
  targetTenantId: string;
  createdOn: string;
  createdBy: string;
  approvalStatus: RequestApprovalStatus;
  actedBy: string | null;
}

export interface ControlPlane {
  /** Replaces the whole inventory with the world, in one transaction. */
  loadWorld(world: World): Promise<void>;
  /** Creates the schema if it is not there yet. */
  migrateSchema(): Promise<void>;

  getTenant(tenantId: string): Promise<TenantRecord | undefined>;
  listTenants(): Promise<TenantRecord[]>;
  getTenantUser(tenantId: string, upn: string): Promise<TenantUserRecord | undefined>;
  /** Batched directory look-up; keys of the result are lower-cased UPNs. */
  findTenantUsers(tenantId: string, upns: string[]): Promise<Map<string, TenantUserRecord>>;

  getEnvironment(environmentId: string): Promise<EnvironmentRecord | undefined>;
  /** The environments of the inventory (of one tenant); rehearsal copies are not among them. */
  listEnvironments(tenantId?: string): Promise<EnvironmentRecord[]>;
  /** Page through an environment's users ordered by upn (case-insensitive), after the given upn. */
  listEnvironmentUsers(environmentId: string, options?: { afterUpn?: string; limit?: number }): Promise<EnvironmentUserRecord[]>;
  countEnvironmentUsers(environmentId: string): Promise<number>;
  getEnvironmentUser(environmentId: string, upn: string): Promise<EnvironmentUserRecord | undefined>;

  /** The setters below throw ControlPlaneNotFoundError (./errors) for an environment or tenant it does not hold. */
  setAdminMode(environmentId: string, adminMode: boolean): Promise<void>;
  /** Re-links the environment to the target tenant; URL, OrgId, name unchanged. Idempotent. */
  relinkEnvironment(environmentId: string, targetTenantId: string, migrationId: string): Promise<void>;
  setSourceAccess(environmentId: string, sourceAccess: boolean): Promise<void>;
  /**
   * Re-maps one environment user from its source identity to its target identity, recording
   * the migration id. Idempotent: a second call for the same migration and user changes nothing
   * and returns applied=false.
   */
  remapEnvironmentUser(environmentId: string, migrationId: string, sourceUpn: string, targetUpn: string): Promise<RemapResult>;
  /**
   * remapEnvironmentUser for many users in one transaction (one result per pair,
   * in the order given): the same rules, fewer round trips for large environments.
   */
  remapEnvironmentUsers(environmentId: string, migrationId: string, pairs: UserRemap[]): Promise<RemapResult[]>;
  /** How many users a migration has re-mapped: listRemaps' length without reading its rows. */
  countRemaps(migrationId: string): Promise<number>;
  /** Re-mapped users of a migration, for audits and tests. */
  listRemaps(migrationId: string): Promise<{ sourceUpn: string; targetUpn: string; appliedCount: number }[]>;
  /**
   * Undoes a migration's re-mappings in an environment, the latest first (SPEC §2 step 10): each
   * user gets back the identity, previous identity and roles it had (a user merged into a target
   * identity that was already a user is split out again), and the migration's claim on the user is
   * removed, so that a later migrate with the same migration id re-maps it again. At most `limit`
   * users (default 500) in one transaction; returns how many claims this call removed: call until 0.
   * A user changed since by something else keeps that change (its claim is removed all the same).
   * Idempotent: what is undone has no claim any more.
   */
  undoRemaps(environmentId: string, migrationId: string, options?: { limit?: number }): Promise<number>;
  /**
   * Puts an environment that was re-linked to `fromTenantId` back in its previous tenant, and its
   * previous tenant back to `restorePreviousTenantId` (what it was before the re-link; default none).
   * Returns false and changes nothing when the environment is not in `fromTenantId` or has no
   * previous tenant: never re-linked, or already back (a retry). Throws ControlPlaneNotFoundError
   * for an environment it does not hold.
   */
  relinkBack(environmentId: string, fromTenantId: string, options?: { restorePreviousTenantId?: string | null }): Promise<boolean>;

  /**
   * Copies an environment and its users, as they are now, under a new id and name, marked as a copy
   * (`copyOf`), in the same tenant: a rehearsal migrates the copy. One transaction. Idempotent: a copy
   * of the same environment with that id is returned as it is. Throws ControlPlaneNotFoundError for
   * an environment it does not hold, and refuses an id taken by anything else.
   */
  copyEnvironment(environmentId: string, copy: { id: string; name: string }): Promise<EnvironmentRecord>;
  /**
   * Removes a copy made by copyEnvironment: the copy, its users and the re-mappings recorded in it, in
   * one transaction. Returns false when there is no such environment (already removed); refuses an
   * environment that is not a copy.
   */
  removeEnvironmentCopy(copyId: string): Promise<boolean>;
  /** The copies of an environment that exist now (a rehearsal running, or one that was terminated). */
  listEnvironmentCopies(environmentId: string): Promise<EnvironmentRecord[]>;

  /** Registers a request; a repeat with the same id changes nothing (idempotent submit). */
  recordRequest(request: Omit<MigrationRequestRecord, 'approvalStatus' | 'actedBy'>): Promise<void>;
  /** Sets a request's approval status; idempotent. Throws ControlPlaneNotFoundError for an unknown id. */
  setRequestStatus(id: string, status: RequestApprovalStatus, actedBy: string | null): Promise<void>;
  getRequest(id: string): Promise<MigrationRequestRecord | undefined>;
  /** Requests of a source tenant, or approvals waiting in a target tenant, oldest first. */
  listRequests(filter: { sourceTenantId?: string; targetTenantId?: string }): Promise<MigrationRequestRecord[]>;

  close(): Promise<void>;
}
