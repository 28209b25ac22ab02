// Nothing in an evidence pack may open the migration's storage: the signature of
// every SAS URL (`sig=...`) is replaced, in text and in the payloads of the
// Temporal history alike. Everything else is left as recorded.
const SAS_SIGNATURE = /([?&]sig=)[^&"'\s<>]+/gi;
export const REDACTED = 'REDACTED';

export function redactText(text: string): string {
  return text.replace(SAS_SIGNATURE, `$1${REDACTED}`);
}

/**
 * Replaces SAS signatures in place in a decoded history (or any protobuf object): in every
 * string field, and in the data of every JSON payload. Returns how many it replaced.
 */
export function redactInPlace(value: unknown): number {
  let replaced = 0;
  const seen = new Set<object>();
  const visit = (node: unknown): void => {
    if (!node || typeof node !== 'object' || node instanceof Uint8Array || seen.has(node)) return;
    seen.add(node);
    const record = node as Record<string, unknown>;
    if (isJsonPayload(record)) {
      const text = Buffer.from(record.data as Uint8Array).toString('utf8');
      const redacted = redactText(text);
      if (redacted !== text) {
        replaced += count(text);
        record.data = new Uint8Array(Buffer.from(redacted, 'utf8'));
      }
    }
    for (const key of Object.keys(record)) {
      const field = record[key];
      if (typeof field === 'string') {
        const redacted = redactText(field);
        if (redacted !== field) {
          replaced += count(field);
          record[key] = redacted;
        }
      } else {
        visit(field);
      }
    }
  };
  visit(value);
  return replaced;
}

function count(text: string): number {
  return text.match(SAS_SIGNATURE)?.length ?? 0;
}

function isJsonPayload(node: Record<string, unknown>): boolean {
  const metadata = node.metadata as Record<string, unknown> | undefined | null;
  const encoding = metadata?.encoding;
  if (!(node.data instanceof Uint8Array) || !(encoding instanceof Uint8Array)) return false;
  return Buffer.from(encoding).toString('utf8') === 'json/plain';
}
