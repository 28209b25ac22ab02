// The mapping validator's directory (DirectoryLookup) on Microsoft Graph, and
// the admin's roles for authorization. A small mapping asks Graph for its
// addresses ($batch, 20 at a time); past `snapshotAbove` addresses asked of one
// tenant, asking would cost tens of thousands of requests, so the tenant's
// whole directory is read once by delta paging into a DirectorySnapshot and
// the rest is answered locally. Later rounds (a re-validation, the next
// migration of the same tenants) ask Graph only for what changed since.
//
// One object serves every validation of a worker process and keeps each
// tenant's snapshot for its lifetime (about 30 MB per million users): the
// cache is keyed by tenant, and a snapshot older than `maxAgeMs` is brought up
// to date by a delta round before it answers again.
import type { DirectoryLookup, DirectoryUser } from '../mapping/directory';
import { MicrosoftServiceError } from './errors';
import { DirectorySnapshot } from './directory-snapshot';
import type { DirectoryRoles, GraphClient, GraphUser } from './graph';

export interface GraphDirectoryUser extends DirectoryUser {
  /** the user has a mail address (Exchange mailbox or mail user) */
  mailbox: boolean;
}

export interface GraphDirectoryOptions {
  /** addresses asked of one tenant, over this object's lifetime, past which its whole directory is read (default 2000) */
  snapshotAbove?: number;
  /** a snapshot older than this is refreshed by a delta round at its next use (default 5 minutes) */
  maxAgeMs?: number;
  now?: () => number;
}

export interface GraphDirectory extends DirectoryLookup {
  findTenantUsers(tenantId: string, upns: string[]): Promise<Map<string, GraphDirectoryUser>>;
  roles(tenantId: string, upn: string): Promise<DirectoryRoles>;
  /** A principal's name by id (a user's UPN, an app's display name), when Graph lets the app read it. */
  principalName(tenantId: string, id: string, type?: string): Promise<string | undefined>;
  /** Applies a delta round to the snapshots held (all tenants, or the one named); a tenant without one is left alone. */
  refresh(tenantId?: string): Promise<void>;
  /** users and bytes of the tenant's snapshot, when it has one */
  snapshotStats(tenantId: string): { users: number; bytes: number } | undefined;
  /** Drops what is kept of the tenant (or of all): its next look-ups start over with $batch. */
  forget(tenantId?: string): void;
}

interface TenantState {
  /** as first spelled: the token source is asked with it */
  tenantId: string;
  asked: number;
  snapshot?: DirectorySnapshot;
  deltaLink?: string;
  loadedAt: number;
  /** the read or delta round under way: concurrent look-ups wait for the same one */
  pending?: Promise<void>;
}

/** The snapshot keeps a flag, not the skus: one shared, frozen stand-in for "holds a licence". */
const LICENSED: string[] = Object.freeze(['licensed']) as unknown as string[];
const UNLICENSED: string[] = Object.freeze([]) as unknown as string[];

const DEFAULT_SNAPSHOT_ABOVE = 2000;
const DEFAULT_MAX_AGE_MS = 5 * 60_000;

function fromGraph(user: GraphUser): GraphDirectoryUser {
  return {
    upn: user.userPrincipalName,
    enabled: user.accountEnabled,
    licenses: user.assignedLicenses.map((l) => l.skuId),
    mailbox: user.mail !== null,
  };
}

export function createGraphDirectory(graph: GraphClient, options: GraphDirectoryOptions = {}): GraphDirectory {
  const snapshotAbove = options.snapshotAbove ?? DEFAULT_SNAPSHOT_ABOVE;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const now = options.now ?? Date.now;
  const tenants = new Map<string, TenantState>();

  const tenantOf = (tenantId: string): TenantState => {
    const key = tenantId.toLowerCase();
    let state = tenants.get(key);
    if (!state) tenants.set(key, (state = { tenantId, asked: 0, loadedAt: 0 }));
    return state;
  };

  /** One read or delta round at a time per tenant. */
  const once = (state: TenantState, work: () => Promise<void>): Promise<void> => {
    state.pending ??= work().finally(() => {
      state.pending = undefined;
    });
    return state.pending;
  };

  /** Pages into `snapshot` (a fresh one for a full read); returns the link for the next round. */
  const readInto = async (tenantId: string, snapshot: DirectorySnapshot, deltaLink?: string): Promise<string> => {
    let next: string | undefined;
    for await (const page of graph.readUsers(tenantId, { deltaLink })) {
      for (const user of page.users) snapshot.apply(user);
      for (const id of page.removed) snapshot.remove(id);
      next = page.deltaLink ?? next;
    }
    if (!next) throw new MicrosoftServiceError('Microsoft Graph', 'unavailable', `Microsoft Graph ended the directory read of tenant ${tenantId} without a delta link`);
    return next;
  };

  const load = async (tenantId: string, state: TenantState): Promise<void> => {
    // Only a sizing hint: without it (no advanced queries, say) the snapshot grows as it reads.
    const expected = await graph.countUsers(tenantId).catch(() => 0);
    const snapshot = new DirectorySnapshot(expected);
    const started = now();
    state.deltaLink = await readInto(tenantId, snapshot);
    state.snapshot = snapshot;
    state.loadedAt = started;
  };

  const update = async (tenantId: string, state: TenantState): Promise<void> => {
    const started = now();
    try {
      state.deltaLink = await readInto(tenantId, state.snapshot!, state.deltaLink);
      state.loadedAt = started;
    } catch (err) {
      // 410: Graph no longer keeps changes that far back (or reset the tenant's sync): read it all again.
      if (err instanceof MicrosoftServiceError && err.status === 410) return load(tenantId, state);
      throw err;
    }
  };

  const ready = async (tenantId: string, state: TenantState): Promise<DirectorySnapshot> => {
    if (!state.snapshot) await once(state, () => load(tenantId, state));
    else if (now() - state.loadedAt > maxAgeMs) await once(state, () => update(tenantId, state));
    return state.snapshot!;
  };

  return {
    async findTenantUsers(tenantId, upns) {
      const state = tenantOf(tenantId);
      state.asked += upns.length;
      const found = new Map<string, GraphDirectoryUser>();
      if (!state.snapshot && state.asked <= snapshotAbove) {
        for (const [key, user] of await graph.findUsers(tenantId, upns)) found.set(key, fromGraph(user));
        return found;
      }
      const snapshot = await ready(tenantId, state);
      for (const upn of upns) {
        const entry = snapshot.lookup(upn);
        // The snapshot keeps no UPN: the address asked stands for it (it may be the mail address).
        if (entry) found.set(upn.toLowerCase(), { upn, enabled: entry.enabled, licenses: entry.licensed ? LICENSED : UNLICENSED, mailbox: entry.mailbox });
      }
      return found;
    },

    roles(tenantId, upn) {
      return graph.directoryRoles(tenantId, upn);
    },

    principalName(tenantId, id, type) {
      return graph.principalName(tenantId, id, type);
    },

    async refresh(tenantId) {
      const names = tenantId === undefined ? [...tenants.keys()] : [tenantId.toLowerCase()];
      await Promise.all(
        names.map(async (name) => {
          const state = tenants.get(name);
          if (!state?.snapshot) return;
          // A round already under way may have started before the change the caller wants: wait for it, then run one more.
          await state.pending?.catch(() => undefined);
          await once(state, () => update(state.tenantId, state));
        }),
      );
    },

    snapshotStats(tenantId) {
      const snapshot = tenants.get(tenantId.toLowerCase())?.snapshot;
      return snapshot && { users: snapshot.size, bytes: snapshot.byteLength };
    },

    forget(tenantId) {
      if (tenantId === undefined) tenants.clear();
      else tenants.delete(tenantId.toLowerCase());
    },
  };
}
