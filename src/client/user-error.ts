// A refusal or a mistake the admin can act on: the CLI prints its message alone.
// Its own module, so that every command can throw it without loading the Temporal client.
export class UserError extends Error {
  override name = 'UserError';
}
