// LibvirtClient against a misbehaving peer on a real unix socket (FakeDaemon): broken frames, a silent daemon,
// a call that never gets its answer. The process must survive, waiting calls must fail with a clear error, and
// the next call must run on a new connection.
import { strict as assert } from "node:assert";
import { CallTimeoutError, ConnectionLostError, LibvirtClient, RemoteProc } from "../../../provider/src/libvirt";
import { XdrWriter } from "../../../provider/src/wire/xdr";
import { eventFrame, FakeDaemon } from "./fake-daemon";

const UUID = Buffer.alloc(16, 7);

/** Fails the test if anything escapes to the process (mocha would otherwise blame whichever test runs next). */
function watchProcess(): { errors: unknown[]; stop: () => void } {
  const errors: unknown[] = [];
  const listener = (error: unknown) => errors.push(error);
  const before = process.listeners("uncaughtException");
  process.removeAllListeners("uncaughtException");
  process.on("uncaughtException", listener);
  return {
    errors,
    stop: () => {
      process.removeListener("uncaughtException", listener);
      for (const l of before) process.on("uncaughtException", l);
    },
  };
}

async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return { value: await Promise.race([promise, deadline]), ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

describe("LibvirtClient against a misbehaving daemon", function () {
  this.timeout(20_000);
  let daemon: FakeDaemon;
  let client: LibvirtClient | undefined;
  let watch: ReturnType<typeof watchProcess>;
  /** Set by a test: what the daemon does with GET_LIB_VERSION on the first connection. */
  let onLibVersion: ((call: Parameters<NonNullable<FakeDaemon["hooks"]["onCall"]>>[0], peer: FakeDaemon["peers"][number]) => boolean) | undefined;

  beforeEach(async () => {
    onLibVersion = undefined;
    daemon = new FakeDaemon({
      onCall: (call, peer) => {
        if (call.header.procedure !== RemoteProc.ConnectGetLibVersion || !onLibVersion) return false;
        const handled = onLibVersion(call, peer);
        onLibVersion = undefined; // only the first time: the next connection gets a normal daemon
        return handled;
      },
    });
    await daemon.listen();
    watch = watchProcess();
  });

  afterEach(async () => {
    watch.stop();
    await client?.close();
    client = undefined;
    await daemon.close();
  });

  const truncatedDeviceRemoved = () => {
    // callback id and domain name, then the frame ends where the uuid should be.
    const payload = new XdrWriter().int(100).string("vm1").bytes();
    return eventFrame(RemoteProc.DomainEventCallbackDeviceRemoved, payload);
  };

  it("a truncated event fails the waiting call with a clear error, closes the connection, and the next call reconnects", async () => {
    client = await LibvirtClient.connect(daemon.uri, { callTimeoutMs: 10_000 });
    await client.onDomainEvent(() => undefined);
    onLibVersion = (_call, peer) => {
      peer.send(truncatedDeviceRemoved());
      return true; // and never answers the call itself
    };
    await assert.rejects(
      within(5_000, "the waiting call", client.libVersion()),
      (e: unknown) => e instanceof ConnectionLostError && /malformed/i.test(e.message) && /GetLibVersion/.test(e.message),
    );
    assert.deepEqual(watch.errors, []);
    assert.equal(await client.libVersion(), "9.0.0");
    assert.equal(client.connectCount, 2);
    assert.equal(daemon.peers[0].socket.destroyed || daemon.peers[0].socket.readableEnded, true);
  });

  it("a truncated event with no call waiting does not escape the socket handler", async () => {
    client = await LibvirtClient.connect(daemon.uri, { callTimeoutMs: 10_000 });
    daemon.peers[0].send(truncatedDeviceRemoved());
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(watch.errors, []);
    assert.equal(await client.libVersion(), "9.0.0");
    assert.equal(client.connectCount, 2);
  });

  it("a frame with an impossible length fails the waiting call and the next call reconnects", async () => {
    client = await LibvirtClient.connect(daemon.uri, { callTimeoutMs: 10_000 });
    onLibVersion = (_call, peer) => {
      const bogus = Buffer.alloc(8);
      bogus.writeUInt32BE(0xfffffff0, 0);
      peer.send(bogus);
      return true;
    };
    await assert.rejects(
      within(5_000, "the waiting call", client.libVersion()),
      (e: unknown) => e instanceof ConnectionLostError && /frame length/.test(e.message),
    );
    assert.deepEqual(watch.errors, []);
    assert.equal(await client.libVersion(), "9.0.0");
    assert.equal(client.connectCount, 2);
  });

  it("sends its own keepalive pings, and an answering daemon keeps the connection", async () => {
    client = await LibvirtClient.connect(daemon.uri, { keepaliveIntervalMs: 50, keepaliveCount: 3 });
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(daemon.pings >= 3, `daemon saw ${daemon.pings} pings`);
    assert.equal(await client.libVersion(), "9.0.0");
    assert.equal(client.connectCount, 1);
  });

  it("declares a silent daemon dead within interval x (count + 1), failing the waiting call", async () => {
    client = await LibvirtClient.connect(daemon.uri, { keepaliveIntervalMs: 100, keepaliveCount: 3, callTimeoutMs: 60_000 });
    daemon.hooks.silent = true;
    const { ms } = await within(
      2_000,
      "declaring the peer dead",
      client.libVersion().then(
        () => assert.fail("a silent daemon answered"),
        (e: unknown) => {
          assert.ok(e instanceof ConnectionLostError, String(e));
          assert.match((e as Error).message, /keepalive/);
        },
      ),
    );
    assert.ok(ms <= 100 * (3 + 1) + 300, `took ${ms} ms`);
    daemon.hooks.silent = false;
    assert.equal(await client.libVersion(), "9.0.0");
    assert.equal(client.connectCount, 2);
  });

  it("a call that times out tears the connection down, and the next call succeeds on a new one", async () => {
    client = await LibvirtClient.connect(daemon.uri, { callTimeoutMs: 300, keepaliveIntervalMs: 5_000 });
    onLibVersion = () => true; // swallowed; keepalive still answered, so only the deadline can end the wait
    await assert.rejects(within(3_000, "the timed-out call", client.libVersion()), CallTimeoutError);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(daemon.peers[0].socket.destroyed || daemon.peers[0].socket.readableEnded, true, "the old connection is closed");
    const { ms } = await within(2_000, "the next call", client.libVersion());
    assert.ok(ms < 1_000);
    assert.equal(client.connectCount, 2);
  });

  it("a call made while the daemon restarts waits for it to come back (reconnect grace), then succeeds", async () => {
    client = await LibvirtClient.connect(daemon.uri, { reconnectGraceMs: 5_000 });
    await daemon.stop();
    await new Promise((r) => setTimeout(r, 50)); // the client hears the close
    const successor = new FakeDaemon({}, daemon.socketPath);
    const call = within(4_000, "the call across the restart", client.libVersion());
    setTimeout(() => void successor.listen(), 400);
    try {
      const { value, ms } = await call;
      assert.equal(value, "9.0.0");
      assert.ok(ms >= 300, `answered after ${ms} ms, so by the successor`);
      assert.equal(client.connectCount, 2);
    } finally {
      await client.close();
      client = undefined;
      await successor.stop();
    }
  });

  it("still fails at once when the first connection cannot be made (a wrong socket is not waited for)", async () => {
    const started = Date.now();
    await assert.rejects(LibvirtClient.connect(`${daemon.uri}.nothing`, { reconnectGraceMs: 5_000 }), /cannot connect to libvirt/);
    assert.ok(Date.now() - started < 1_000);
  });

  it("re-subscribes to domain events on the new connection after a reconnect, without waiting for a call", async () => {
    client = await LibvirtClient.connect(daemon.uri, { callTimeoutMs: 5_000 });
    const heard: string[] = [];
    await client.onDomainEvent((e) => {
      if (e.kind === "device-removed") heard.push(e.alias);
    });
    daemon.peers[0].socket.destroy(); // the daemon goes away
    const deadline = Date.now() + 3_000;
    while ((daemon.peers.length < 2 || client.connectCount < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(client.connectCount, 2, "reconnected by itself because events are subscribed");
    // Give the registration a moment, then the daemon sends device-removed on the new connection with its new id.
    await new Promise((r) => setTimeout(r, 100));
    const ids = (client as unknown as { callbackIds: Set<number> }).callbackIds;
    assert.ok(ids.size > 0);
    const payload = new XdrWriter().int([...ids][1]).string("vm1").fixedOpaque(UUID, 16).int(1).string("ua-disk1").bytes();
    daemon.peers[1].send(eventFrame(RemoteProc.DomainEventCallbackDeviceRemoved, payload));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(heard, ["ua-disk1"]);
  });
});
