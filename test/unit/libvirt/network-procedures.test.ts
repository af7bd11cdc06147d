// The network procedures' XDR, byte for byte, against a stand-in daemon on a real unix socket: what the client
// sends for each call (field order as remote_protocol.x declares it) and how it reads the daemon's replies.
import { strict as assert } from "node:assert";
import {
  Feature,
  LibvirtClient,
  NetworkRef,
  NetworkUpdateCommand,
  NetworkUpdateFlags,
  NetworkUpdateSection,
  RemoteProc,
} from "../../../provider/src/libvirt";
import { Frame } from "../../../provider/src/wire/framing";
import { XdrReader, XdrWriter } from "../../../provider/src/wire/xdr";
import { FakeDaemon, FakePeer } from "./fake-daemon";

const NET: NetworkRef = { name: "lab", uuid: Buffer.from("5c17819fdef942a0a8c8bdadc17da799", "hex") };
const netBytes = (w: XdrWriter): XdrWriter => w.string(NET.name).fixedOpaque(NET.uuid, 16);

describe("LibvirtClient network procedures (XDR)", function () {
  this.timeout(10_000);
  let daemon: FakeDaemon;
  let client: LibvirtClient;
  /** Calls of the procedures under test, with their payloads. */
  let calls: { procedure: number; payload: Buffer }[];
  /** What the daemon answers per procedure; others get the fake daemon's default. */
  let answers: Map<number, (payload: Buffer) => Uint8Array>;

  beforeEach(async () => {
    calls = [];
    answers = new Map();
    daemon = new FakeDaemon({
      onCall: (call: Frame, peer: FakePeer) => {
        const answer = answers.get(call.header.procedure);
        if (!answer) return false;
        calls.push({ procedure: call.header.procedure, payload: Buffer.from(call.payload) });
        peer.reply(call, answer(Buffer.from(call.payload)));
        return true;
      },
    });
    await daemon.listen();
    client = await LibvirtClient.connect(daemon.uri, { keepaliveIntervalMs: 0 });
  });

  afterEach(async () => {
    await client.close();
    await daemon.close();
  });

  const updateArgs = (first: number, second: number) =>
    netBytes(new XdrWriter()).uint(first).uint(second).int(-1).string("<host mac='52:54:00:aa:00:01' ip='198.18.7.10'/>").uint(3).bytes();

  for (const [declared, order] of [[1, "command, section"], [0, "section, command (the order the wire carried for years)"]] as const) {
    it(`NETWORK_UPDATE sends net, ${order}, parentIndex, xml, flags when the daemon's feature 16 says ${declared}`, async () => {
      answers.set(RemoteProc.ConnectSupportsFeature, (p) => new XdrWriter().int(new XdrReader(p).int() === Feature.NetworkUpdateHasCorrectOrder ? declared : 1).bytes());
      answers.set(RemoteProc.NetworkUpdate, () => new Uint8Array(0));
      const xml = "<host mac='52:54:00:aa:00:01' ip='198.18.7.10'/>";
      const flags = NetworkUpdateFlags.AffectLive | NetworkUpdateFlags.AffectConfig;
      await client.updateNetwork(NET, NetworkUpdateCommand.AddLast, NetworkUpdateSection.IpDhcpHost, -1, xml, flags);
      await client.updateNetwork(NET, NetworkUpdateCommand.Delete, NetworkUpdateSection.IpDhcpHost, -1, xml, flags);
      const updates = calls.filter((c) => c.procedure === RemoteProc.NetworkUpdate).map((c) => c.payload);
      const [add, del] = declared ? [[3, 4], [2, 4]] : [[4, 3], [4, 2]];
      assert.deepEqual(updates, [Buffer.from(updateArgs(add[0]!, add[1]!)), Buffer.from(updateArgs(del[0]!, del[1]!))]);
      assert.equal(calls.filter((c) => c.procedure === RemoteProc.ConnectSupportsFeature).length, 1, "the daemon is asked once per connection");
    });
  }

  it("NETWORK_GET_DHCP_LEASES sends net, the optional MAC, need_results, flags; reads every lease field in the declared order", async () => {
    const lease = (w: XdrWriter, ip: string, mac: string | null, hostname: string | null) =>
      w
        .string("lvtbr7")
        .hyper(1_800_000_000n)
        .int(0)
        .optional(mac, (x, v) => x.string(v))
        .optional(null, (x, v: string) => x.string(v))
        .string(ip)
        .uint(24)
        .optional(hostname, (x, v) => x.string(v))
        .optional("01:52:54:00:aa:00:01", (x, v) => x.string(v));
    answers.set(RemoteProc.NetworkGetDhcpLeases, () => {
      const w = new XdrWriter().uint(2);
      lease(w, "198.18.7.10", "52:54:00:AA:00:01", "web-1");
      lease(w, "198.18.7.150", null, null);
      return w.uint(2).bytes();
    });
    const leases = await client.networkDhcpLeases(NET);
    assert.deepEqual(leases[0], {
      iface: "lvtbr7",
      expiryTime: 1_800_000_000,
      type: 0,
      mac: "52:54:00:aa:00:01",
      iaid: null,
      ipAddress: "198.18.7.10",
      prefix: 24,
      hostname: "web-1",
      clientId: "01:52:54:00:aa:00:01",
    });
    assert.deepEqual([leases[1]!.ipAddress, leases[1]!.mac, leases[1]!.hostname], ["198.18.7.150", null, null]);
    await client.networkDhcpLeases(NET, "52:54:00:aa:00:01");
    assert.deepEqual(
      calls.map((c) => c.payload),
      [
        Buffer.from(netBytes(new XdrWriter()).optional(null, (x, v: string) => x.string(v)).int(1).uint(0).bytes()),
        Buffer.from(netBytes(new XdrWriter()).optional("52:54:00:aa:00:01", (x, v) => x.string(v)).int(1).uint(0).bytes()),
      ],
    );
  });

  it("CONNECT_LIST_ALL_NETWORKS asks for results and reads remote_nonnull_network entries", async () => {
    answers.set(RemoteProc.ConnectListAllNetworks, () => netBytes(new XdrWriter().uint(1)).uint(1).bytes());
    assert.deepEqual(await client.listAllNetworks(), [NET]);
    assert.deepEqual(calls[0]!.payload, Buffer.from(new XdrWriter().int(1).uint(0).bytes()));
  });

  it("NETWORK_GET_XML_DESC asks for the persistent config with flag 1 (virNetworkXMLFlags INACTIVE)", async () => {
    answers.set(RemoteProc.NetworkGetXmlDesc, (p) => new XdrWriter().string(`flags=${new XdrReader(p.subarray(p.length - 4)).uint()}`).bytes());
    assert.equal(await client.networkXml(NET), "flags=0");
    assert.equal(await client.networkXml(NET, { inactive: true }), "flags=1");
  });

  it("lookups by name and by uuid read the network; defines send the XML", async () => {
    const reply = () => netBytes(new XdrWriter()).bytes();
    for (const proc of [RemoteProc.NetworkLookupByName, RemoteProc.NetworkLookupByUuid, RemoteProc.NetworkDefineXml]) answers.set(proc, reply);
    assert.deepEqual(await client.lookupNetwork("lab"), NET);
    assert.deepEqual(await client.lookupNetwork("5c17819f-def9-42a0-a8c8-bdadc17da799"), NET);
    assert.deepEqual(await client.defineNetwork("<network/>"), NET);
    assert.deepEqual(
      calls.map((c) => [c.procedure, c.payload]),
      [
        [RemoteProc.NetworkLookupByName, Buffer.from(new XdrWriter().string("lab").bytes())],
        [RemoteProc.NetworkLookupByUuid, NET.uuid],
        [RemoteProc.NetworkDefineXml, Buffer.from(new XdrWriter().string("<network/>").bytes())],
      ],
    );
  });
});
