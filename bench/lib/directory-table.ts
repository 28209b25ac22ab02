// The benchmark's directory: an in-memory table of both tenants, indexed by user
// number, one byte per user (a Map of two million UPN strings would itself take
// more memory than the validator and swamp its measurement). Source tenant:
// u0…u(n-1)@contoso.com; target tenant: u0…u(n-1)@fabrikam.com, each enabled and
// licensed unless the table says otherwise. Look-ups are batched, as in the product.
import { createDirectoryChecker, type DirectoryUser } from '../../src/mapping/directory';
import type { DirectoryChecker } from '../../src/mapping/validator';

export const USER_OK = 0;
export const USER_DISABLED = 1;
export const USER_UNLICENSED = 2;

export function createDirectoryTable(targetStates: Uint8Array): { checker: DirectoryChecker; calls: () => number } {
  let calls = 0;
  const tenants: Record<string, { domain: string; states?: Uint8Array }> = {
    source: { domain: '@contoso.com' },
    target: { domain: '@fabrikam.com', states: targetStates },
  };
  /** u<n><domain> → n, or -1 for anyone else */
  const userNumber = (upn: string, domain: string) => {
    const at = upn.length - domain.length;
    if (at < 2 || upn.charCodeAt(0) !== 117 || !upn.endsWith(domain)) return -1;
    const n = Number(upn.slice(1, at));
    return Number.isInteger(n) && n < targetStates.length ? n : -1;
  };
  const checker = createDirectoryChecker({
    sourceTenantId: 'source',
    targetTenantId: 'target',
    async findTenantUsers(tenantId: string, upns: string[]) {
      calls += 1;
      const { domain, states } = tenants[tenantId];
      const found = new Map<string, DirectoryUser>();
      for (const upn of upns) {
        const key = upn.toLowerCase();
        const n = userNumber(key, domain);
        if (n < 0) continue;
        const state = states ? states[n] : USER_OK;
        found.set(key, { upn: key, enabled: state !== USER_DISABLED, licenses: state === USER_UNLICENSED ? [] : ['E3'] });
      }
      return found;
    },
  });
  return { checker, calls: () => calls };
}
