// Directory checks of mapped rows (SPEC §4), batched: one look-up per tenant per
// batch, never one per row. The source user must exist in the source tenant; the
// destination user must exist in the target tenant, be enabled and hold a licence.
import type { DirectoryChecker, MappingError, MappingRow } from './validator';
import { destinationDisabled, destinationNotFound, destinationUnlicensed, sourceNotFound } from './messages';

const NOT_LOWER_ASCII = /[A-Z\u0080-\uffff]/;

/** toLowerCase(), without its cost for the usual address that is lower-case ASCII already (one regular-expression test costs less). */
function lowerCase(text: string): string {
  return NOT_LOWER_ASCII.test(text) ? text.toLowerCase() : text;
}

export interface DirectoryUser {
  upn: string;
  enabled: boolean;
  licenses: string[];
}

export interface DirectoryLookup {
  /** the users found among `upns`, keyed by lower-cased UPN (a UPN not found is absent) */
  findTenantUsers(tenantId: string, upns: string[]): Promise<Map<string, DirectoryUser>>;
}

export interface DirectoryTenants {
  sourceTenantId: string;
  targetTenantId: string;
}

export function createDirectoryChecker(lookup: DirectoryLookup & DirectoryTenants): DirectoryChecker;
export function createDirectoryChecker(lookup: DirectoryLookup, sourceTenantId: string, targetTenantId: string): DirectoryChecker;
export function createDirectoryChecker(lookup: DirectoryLookup & Partial<DirectoryTenants>, sourceTenantId?: string, targetTenantId?: string): DirectoryChecker {
  const sourceTenant = sourceTenantId ?? lookup.sourceTenantId;
  const targetTenant = targetTenantId ?? lookup.targetTenantId;
  if (!sourceTenant || !targetTenant) throw new TypeError('createDirectoryChecker needs a source and a target tenant id');
  return {
    async checkBatch(rows: MappingRow[]): Promise<MappingError[]> {
      if (rows.length === 0) return [];
      const [sources, destinations] = await Promise.all([
        lookup.findTenantUsers(sourceTenant, rows.map((r) => r.source)),
        lookup.findTenantUsers(targetTenant, rows.map((r) => r.destination)),
      ]);
      const errors: MappingError[] = [];
      for (const row of rows) {
        const { line, source, destination } = row;
        if (!sources.has(lowerCase(source))) errors.push({ line, source, destination, error: sourceNotFound(source) });
        const target = destinations.get(lowerCase(destination));
        if (!target) {
          errors.push({ line, source, destination, error: destinationNotFound(destination) });
          continue;
        }
        // Both when both: the admin fixes the account once.
        if (!target.enabled) errors.push({ line, source, destination, error: destinationDisabled(destination) });
        if (target.licenses.length === 0) errors.push({ line, source, destination, error: destinationUnlicensed(destination) });
      }
      return errors;
    },
  };
}
