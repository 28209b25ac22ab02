// What can go wrong when the product talks to Microsoft's services, as values
// with names: the activities turn each kind into a retryable or a final
// Temporal failure, and the CLI and the smoke command into one line.

export type MicrosoftService = 'Power Platform admin API' | 'Microsoft Graph' | 'Microsoft sign-in';

export type MicrosoftErrorKind =
  /** 401: no token, a token for the wrong audience, or consent missing */
  | 'unauthorized'
  /** 403: signed in, but the app or user lacks a role or a permission */
  | 'forbidden'
  /** 429: throttled; retryAfterMs says when to come back */
  | 'throttled'
  /** 5xx: the service had a fault; retry */
  | 'unavailable'
  /** 404: the thing does not exist */
  | 'notFound'
  /** any other 4xx: the service refused the request as it was */
  | 'refused'
  /** the service could not be reached (DNS, TLS, connection) */
  | 'network'
  /** the product's own settings do not allow the call (no credential for that tenant) */
  | 'configuration'
  /** a long operation reported no end within the product's budget for it (T2T_OPERATION_BUDGET) */
  | 'timedOut';

const RETRYABLE: readonly MicrosoftErrorKind[] = ['throttled', 'unavailable', 'network'];

export class MicrosoftServiceError extends Error {
  override name = 'MicrosoftServiceError';
  readonly retryable: boolean;

  constructor(
    readonly service: MicrosoftService,
    readonly kind: MicrosoftErrorKind,
    message: string,
    readonly status?: number,
    /** from Retry-After, when the service sent one */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.retryable = RETRYABLE.includes(kind);
  }
}

/** The hint an admin needs for a 401 or 403: which consent or role is missing. */
export function accessHint(service: MicrosoftService, kind: 'unauthorized' | 'forbidden', tenantId: string): string {
  if (service === 'Microsoft Graph') {
    return kind === 'unauthorized'
      ? `Microsoft Graph did not accept the app's token for tenant ${tenantId}: grant admin consent to the app registration's application permissions (User.Read.All, RoleManagement.Read.Directory) in that tenant`
      : `Microsoft Graph refused the app in tenant ${tenantId}: the app registration needs the application permissions User.Read.All and RoleManagement.Read.Directory with admin consent`;
  }
  if (service === 'Microsoft sign-in') {
    return `Microsoft sign-in refused the app's credential for tenant ${tenantId}: check the client id, the secret or certificate, and that the app is consented in that tenant`;
  }
  return kind === 'unauthorized'
    ? `the Power Platform admin API did not accept the app's token for tenant ${tenantId}: the app must be registered as a Power Platform management app (New-PowerAppManagementApp) in that tenant`
    : `the Power Platform admin API refused the app in tenant ${tenantId}: it needs the Power Platform administrator role there (register it with New-PowerAppManagementApp, or sign in as a Power Platform or Dynamics 365 admin)`;
}
