// Addresses are personal data, kept out of logs and the Web UI's details. No imports: the
// client's commands load this too.

/** The text with each email address replaced by <user>. */
export function withoutAddresses(text: string): string {
  return text.replace(/[^\s'"@]+@[^\s'"@]+\.[^\s'"@]+/g, '<user>');
}
