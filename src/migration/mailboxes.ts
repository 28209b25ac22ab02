// SPEC §5: addresses on the source tenant's default *.onmicrosoft.com domain
// become the target tenant's default *.onmicrosoft.com domain.
export function rewriteOnmicrosoftAddress(address: string, sourceDefaultDomain: string, targetDefaultDomain: string): string | undefined {
  const at = address.lastIndexOf('@');
  if (at < 0) return undefined;
  const domain = address.slice(at + 1).toLowerCase();
  if (domain !== sourceDefaultDomain.toLowerCase() || !domain.endsWith('.onmicrosoft.com')) return undefined;
  return `${address.slice(0, at)}@${targetDefaultDomain}`;
}
