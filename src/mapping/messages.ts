// The texts of every mapping error, in one place so that the activity, the CLI
// and the docs agree. The first five are Microsoft's exact English texts (SPEC §4):
// an admin who searches for one finds Microsoft's guidance too, so a hint may
// follow a text but must never change it.

export const MAPPING_FILE_NAME = 'usermapping.csv';

export const INVALID_FILE = 'The User mapping file provided for Tenant To Tenant migration is invalid';
export const duplicateEmail = (lines: readonly number[], emailId: string) => `Line '${lines.join(',')}' have the same '${emailId}'`;
export const invalidEmail = (emailId: string) => `Invalid Email Format '${emailId}'`;
export const targetSameAsSource = (line: number) => `Target on line '${line}' is same as source email ID`;
export const wrongColumnCount = (line: number) => `Each line must have exactly two columns: '${line}'`;

export const sourceNotFound = (email: string) => `Source user '${email}' was not found in the source tenant`;
export const destinationNotFound = (email: string) => `Destination user '${email}' was not found in the target tenant`;
export const destinationDisabled = (email: string) => `Destination user '${email}' is disabled in the target tenant`;
export const destinationUnlicensed = (email: string) => `Destination user '${email}' has no licence in the target tenant`;

/** A text followed by a hint in brackets: the text itself stays searchable. */
export const withHint = (text: string, hint?: string) => (hint ? `${text} (${hint})` : text);
export const invalidFile = (hint?: string) => withHint(INVALID_FILE, hint);

/** Why a file is invalid, as hints after INVALID_FILE. */
export const invalidFileHints = {
  wrongName: (name: string) => `the file must be named exactly ${MAPPING_FILE_NAME}, not '${name}'`,
  missing: (where?: string) => (where ? `no ${MAPPING_FILE_NAME} at ${where}` : `no ${MAPPING_FILE_NAME} was found`),
  notAFile: (where: string) => `${where} is a folder, not a file`,
  empty: 'the file is empty',
  noRows: 'the file has a header but no mapping rows',
  notCommaSeparated: (separator: string) => `the values must be separated by commas, not ${separator}`,
  headerSpaces: 'the header must be exactly Source,Destination, without spaces around the names',
  utf16: 'the file is saved as UTF-16; save it as CSV UTF-8',
  spreadsheet: 'the file is an Excel workbook, not CSV; save it as CSV UTF-8',
  binary: (byte: number) => `not a CSV file: binary content at byte ${byte}`,
  notUtf8: (line: number) => `line ${line} is not valid UTF-8; save the file as CSV UTF-8`,
  tooLong: (line: number, limit: number) => `line ${line} is longer than ${limit.toLocaleString('en-US')} characters`,
  unclosedQuote: (line: number) => `the quoted value that starts on line ${line} is never closed`,
} as const;
