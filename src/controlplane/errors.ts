// Errors of the control plane that callers tell apart.

/** An environment or tenant that the control plane does not hold: retrying cannot help. */
export class ControlPlaneNotFoundError extends Error {
  override name = 'ControlPlaneNotFoundError';

  constructor(
    readonly what: 'environment' | 'tenant' | 'migration request',
    readonly id: string,
  ) {
    super(`${what} '${id}' does not exist`);
  }
}
