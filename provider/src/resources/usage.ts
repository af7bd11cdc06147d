// Which domains use a file: a volume resize must go through QEMU when a running guest has the image open,
// and a volume still in use must not be deleted.
import { DomainRef, isNotFound, LibvirtClient } from "../libvirt";
import { parseDisks } from "../vocab/disk-xml";

export interface FileUse {
  domain: DomainRef;
  running: boolean;
  target: string;
}

export async function domainsUsingFile(client: LibvirtClient, file: string): Promise<FileUse[]> {
  const uses: FileUse[] = [];
  for (const domain of await client.listAllDomains()) {
    const running = domain.id !== -1;
    // A domain removed between the listing and this read uses nothing any more.
    const xml = await client.domainXml(domain, { inactive: !running }).catch((e) => (isNotFound(e) ? null : Promise.reject(e)));
    if (xml === null) continue;
    for (const disk of parseDisks(xml)) {
      if (disk.source === file) uses.push({ domain, running, target: disk.target });
    }
  }
  return uses;
}
