// Microsoft's exact English error texts (SPEC §4): an admin who searches for one
// finds Microsoft's guidance too. A hint may follow the text, never replace it.
export const INVALID_FILE = 'The User mapping file provided for Tenant To Tenant migration is invalid';
export const duplicateEmail = (lines: number[], emailId: string) => `Line '${lines.join(',')}' have the same '${emailId}'`;
export const invalidEmail = (emailId: string) => `Invalid Email Format '${emailId}'`;
export const targetSameAsSource = (line: number) => `Target on line '${line}' is same as source email ID`;
export const wrongColumnCount = (line: number) => `Each line must have exactly two columns: '${line}'`;

export const sourceNotFound = (email: string) => `Source user '${email}' was not found in the source tenant`;
export const destinationNotFound = (email: string) => `Destination user '${email}' was not found in the target tenant`;
export const destinationDisabled = (email: string) => `Destination user '${email}' is disabled in the target tenant`;
export const destinationUnlicensed = (email: string) => `Destination user '${email}' has no licence in the target tenant`;
