// The migration's container on Microsoft's side, reached with nothing but the
// SAS URL the service generated: the product reads the mapping file and writes
// its own validation report there, as the admin's tools do.
import { ContainerClient } from '@azure/storage-blob';
import type { Readable } from 'node:stream';
import { openBlobVersion } from '../storage/migration-storage';
import type { MappingContainer } from '../service/migration-service';

export function sasContainer(sasUrl: string): MappingContainer {
  const container = new ContainerClient(sasUrl);
  const [base, query = ''] = sasUrl.split('?');
  return {
    openVersion: (blobName: string, etag?: string) => openBlobVersion(container, blobName, etag),
    async blobNames() {
      const names: string[] = [];
      for await (const blob of container.listBlobsFlat()) names.push(blob.name);
      return names;
    },
    async writeStream(blobName: string, body: Readable, contentType: string) {
      await container.getBlockBlobClient(blobName).uploadStream(body, 4 * 1024 * 1024, 2, { blobHTTPHeaders: { blobContentType: contentType } });
    },
    blobReadUrl(blobName: string) {
      // The service's SAS is the only one there is: the admin holds it already.
      return `${base.replace(/\/+$/, '')}/${blobName.split('/').map(encodeURIComponent).join('/')}${query ? `?${query}` : ''}`;
    },
  };
}
