// One blob container per migration, reachable by admins only through SAS URLs
// bound to stored access policies, so that ending the migration revokes them.
import {
  BlobServiceClient,
  ContainerClient,
  ContainerSASPermissions,
  BlobSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
  RestError,
} from '@azure/storage-blob';
import type { Readable } from 'node:stream';

import { MAPPING_BLOB_NAME, BlobChangedError, containerNameFor } from './blob-names';
export { MAPPING_BLOB_NAME, BlobChangedError, containerNameFor };
/** Upload policy: read, create, write, list — no delete, no account-level rights. */
export const UPLOAD_POLICY = 't2t-upload';
/** Read-only policy for the error report links. */
export const READ_POLICY = 't2t-read';

/**
 * Opens a blob for reading with the ETag of the version being read; undefined
 * when there is no such blob. With `etag`, only that version is read: a blob
 * replaced since then fails with BlobChangedError instead of mixing two files.
 */
export async function openBlobVersion(
  container: ContainerClient,
  blobName: string,
  etag?: string,
): Promise<{ body: NodeJS.ReadableStream; etag: string } | undefined> {
  try {
    const response = await container.getBlobClient(blobName).download(0, undefined, etag ? { conditions: { ifMatch: etag } } : {});
    if (!response.readableStreamBody) throw new Error(`storage: ${blobName} has no body`);
    return { body: response.readableStreamBody, etag: response.etag ?? '' };
  } catch (err) {
    if (err instanceof RestError && err.statusCode === 404) return undefined;
    if (err instanceof RestError && err.statusCode === 412) throw new BlobChangedError(blobName);
    throw err;
  }
}

export interface ContainerAccess {
  containerName: string;
  sasUrl: string;
  expiresOn: string;
}

export class MigrationStorage {
  private readonly service: BlobServiceClient;
  private readonly credential: StorageSharedKeyCredential;

  constructor(connectionString: string) {
    this.service = BlobServiceClient.fromConnectionString(connectionString);
    const credential = this.service.credential;
    if (!(credential instanceof StorageSharedKeyCredential)) {
      throw new Error('storage: the connection string must carry an account key (SAS URLs are signed with it)');
    }
    this.credential = credential;
  }

  container(containerName: string): ContainerClient {
    return this.service.getContainerClient(containerName);
  }

  /** Creates the container and its access policies if needed; idempotent. */
  async provision(containerName: string, validityMs: number, now = new Date()): Promise<ContainerAccess> {
    const container = this.container(containerName);
    const created = (await container.createIfNotExists()).succeeded;
    // A container that existed already (a repeated request) keeps its policy's expiry.
    const current = created ? undefined : (await container.getAccessPolicy()).signedIdentifiers.find((p) => p.id === UPLOAD_POLICY);
    const expiresOn = current?.accessPolicy?.expiresOn && current.accessPolicy.expiresOn > now
      ? current.accessPolicy.expiresOn
      : new Date(now.getTime() + validityMs);
    // Starting slightly in the past tolerates clock skew between us and the storage service.
    const startsOn = new Date(now.getTime() - 5 * 60_000);
    await container.setAccessPolicy(undefined, [
      { id: UPLOAD_POLICY, accessPolicy: { permissions: ContainerSASPermissions.parse('rcwl').toString(), startsOn, expiresOn } },
      { id: READ_POLICY, accessPolicy: { permissions: BlobSASPermissions.parse('r').toString(), startsOn, expiresOn } },
    ]);
    return { containerName, sasUrl: this.containerSasUrl(containerName), expiresOn: expiresOn.toISOString() };
  }

  containerSasUrl(containerName: string): string {
    const sas = generateBlobSASQueryParameters({ containerName, identifier: UPLOAD_POLICY }, this.credential).toString();
    return `${this.container(containerName).url}?${sas}`;
  }

  /** Read-only link to one blob, e.g. the error report. */
  blobReadUrl(containerName: string, blobName: string): string {
    const sas = generateBlobSASQueryParameters({ containerName, blobName, identifier: READ_POLICY }, this.credential).toString();
    return `${this.container(containerName).getBlobClient(blobName).url}?${sas}`;
  }

  /** Removes every stored access policy: all SAS URLs of the container stop working. Idempotent. */
  async revoke(containerName: string): Promise<void> {
    try {
      await this.container(containerName).setAccessPolicy(undefined, []);
    } catch (err) {
      if (err instanceof RestError && err.statusCode === 404) return;
      throw err;
    }
  }

  async blobNames(containerName: string): Promise<string[]> {
    const names: string[] = [];
    for await (const blob of this.container(containerName).listBlobsFlat()) names.push(blob.name);
    return names;
  }

  async exists(containerName: string, blobName: string): Promise<boolean> {
    return this.container(containerName).getBlobClient(blobName).exists();
  }

  /** openBlobVersion in one of our containers. */
  async openVersion(containerName: string, blobName: string, etag?: string): Promise<{ body: NodeJS.ReadableStream; etag: string } | undefined> {
    return openBlobVersion(this.container(containerName), blobName, etag);
  }

  /**
   * Streams a blob in blocks and commits the block list only at the end: a reader
   * sees the previous version or the whole new one, never a half-written report.
   */
  async writeStream(containerName: string, blobName: string, body: Readable, contentType: string): Promise<void> {
    await this.container(containerName)
      .getBlockBlobClient(blobName)
      .uploadStream(body, 4 * 1024 * 1024, 2, { blobHTTPHeaders: { blobContentType: contentType } });
  }
}
