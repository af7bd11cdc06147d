// The TLS dialer's rules that need no daemon: where certificates are looked for, and libvirtd's verdict byte.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { serverVerdict, tlsFiles } from "../../../provider/src/wire/transports/tls";

describe("TLS certificate files, found as libvirt's client finds them", () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-tlsfiles-"));
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it("uses the folder pkipath names, with libvirt's file names", () => {
    assert.deepEqual(tlsFiles("/srv/pki", { isRoot: true, home }), {
      ca: "/srv/pki/cacert.pem",
      cert: "/srv/pki/clientcert.pem",
      key: "/srv/pki/clientkey.pem",
    });
  });

  it("looks under /etc/pki for root", () => {
    assert.deepEqual(tlsFiles(undefined, { isRoot: true, home }), {
      ca: "/etc/pki/CA/cacert.pem",
      cert: "/etc/pki/libvirt/clientcert.pem",
      key: "/etc/pki/libvirt/private/clientkey.pem",
    });
  });

  it("uses ~/.pki/libvirt for other users when all three files are there, else falls back to /etc/pki", () => {
    const own = path.join(home, ".pki", "libvirt");
    fs.mkdirSync(own, { recursive: true });
    fs.writeFileSync(path.join(own, "cacert.pem"), "");
    fs.writeFileSync(path.join(own, "clientcert.pem"), "");
    assert.equal(tlsFiles(undefined, { isRoot: false, home }).cert, "/etc/pki/libvirt/clientcert.pem");
    fs.writeFileSync(path.join(own, "clientkey.pem"), "");
    assert.deepEqual(tlsFiles(undefined, { isRoot: false, home }), {
      ca: path.join(own, "cacert.pem"),
      cert: path.join(own, "clientcert.pem"),
      key: path.join(own, "clientkey.pem"),
    });
  });
});

describe("libvirtd's verdict byte after the TLS handshake (over a loopback socket)", () => {
  /** A server that writes `bytes` to the first client, then maybe closes; returns the client's socket. */
  async function connectTo(bytes: Buffer | null): Promise<{ socket: net.Socket; server: net.Server }> {
    const server = net.createServer((peer) => {
      if (bytes) peer.write(bytes);
      else peer.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const socket = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    return { socket, server };
  }

  it("accepts 1 and leaves the bytes after it for the RPC layer", async () => {
    const { socket, server } = await connectTo(Buffer.from([1, 0xaa, 0xbb]));
    try {
      await serverVerdict(socket);
      const rest = await new Promise<Buffer>((resolve) => {
        socket.once("data", resolve);
        socket.resume();
      });
      assert.deepEqual([...rest], [0xaa, 0xbb]);
    } finally {
      socket.destroy();
      server.close();
    }
  });

  it("reports any other byte, or a close, as the server refusing our certificate or address", async () => {
    for (const bytes of [Buffer.from([0]), null]) {
      const { socket, server } = await connectTo(bytes);
      try {
        await assert.rejects(serverVerdict(socket), /refused our certificate or address/);
      } finally {
        socket.destroy();
        server.close();
      }
    }
  });
});
