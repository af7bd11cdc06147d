// A net.Socket (unix, tcp, or a tls.TLSSocket over tcp) as a Transport.
import * as net from "node:net";
import { DialError, Transport } from "../transport";

export interface SocketTransportOptions {
  /**
   * Hand the socket one message at a time, the next only once the last was written. For TLS: Node joins
   * writes queued behind a pending one into one TLS record, and libvirtd 9.0 then handles the first message of
   * the record and leaves the rest in its TLS buffer until other bytes arrive (its next keepalive, 5 s later).
   */
  oneMessagePerWrite?: boolean;
}

export function socketTransport(socket: net.Socket, description: string, options: SocketTransportOptions = {}): Transport {
  let closeError: Error | undefined;
  socket.on("error", (err) => {
    closeError = err;
  });
  const queue: Buffer[] = [];
  let writing = false;
  const writeNext = () => {
    const next = queue.shift();
    if (next === undefined) {
      writing = false;
      return;
    }
    writing = true;
    socket.write(next, writeNext);
  };
  return {
    description,
    send: (bytes) => {
      if (!options.oneMessagePerWrite) {
        socket.write(bytes);
        return;
      }
      queue.push(bytes);
      if (!writing) writeNext();
    },
    onData: (listener) => {
      socket.on("data", listener);
      socket.resume(); // a dialer may have paused it to read a greeting first (TLS)
    },
    onClose: (listener) => {
      socket.on("close", () => listener(closeError));
    },
    close: () => {
      socket.end();
      socket.destroySoon?.();
      // A peer that stopped reading (hung, or the link is gone) would keep queued writes, and the socket, forever.
      setTimeout(() => socket.destroy(), 1_000).unref();
    },
  };
}

/** Connects a socket, failing with a DialError after `timeoutMs` instead of hanging. */
export function connectSocket(options: net.NetConnectOpts, description: string, timeoutMs: number): Promise<Transport> {
  return openSocket(() => net.connect(options), "connect", description, timeoutMs);
}

/**
 * Opens a socket with `open` and resolves once it is `ready` ("connect", or "secureConnect" for TLS, which
 * also means the server's certificate was accepted) and `greeting`, if given, has passed; any error, a failed
 * greeting or the deadline first fails with a DialError.
 */
export function openSocket(
  open: () => net.Socket,
  ready: "connect" | "secureConnect",
  description: string,
  timeoutMs: number,
  greeting?: (socket: net.Socket) => Promise<void>,
  transportOptions: SocketTransportOptions = {},
): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const socket = open();
    const fail = (message: string, cause?: unknown) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new DialError(description, message, cause));
    };
    const timer = setTimeout(() => fail(`no connection after ${timeoutMs} ms`), timeoutMs);
    socket.once("error", (err) => fail(err.message, err));
    socket.once(ready, () => {
      socket.setNoDelay(true);
      (greeting ? greeting(socket) : Promise.resolve()).then(
        () => {
          clearTimeout(timer);
          socket.removeAllListeners("error");
          resolve(socketTransport(socket, description, transportOptions));
        },
        (error: Error) => fail(error.message, error),
      );
    });
  });
}
