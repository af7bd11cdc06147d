// A net.Socket (unix or tcp) as a Transport. TLS will wrap a tls.TLSSocket the same way.
import * as net from "node:net";
import { DialError, Transport } from "../transport";

export function socketTransport(socket: net.Socket, description: string): Transport {
  let closeError: Error | undefined;
  socket.on("error", (err) => {
    closeError = err;
  });
  return {
    description,
    send: (bytes) => {
      socket.write(bytes);
    },
    onData: (listener) => {
      socket.on("data", listener);
    },
    onClose: (listener) => {
      socket.on("close", () => listener(closeError));
    },
    close: () => {
      socket.end();
      socket.destroySoon?.();
    },
  };
}

/** Connects a socket, failing with a DialError after `timeoutMs` instead of hanging. */
export function connectSocket(options: net.NetConnectOpts, description: string, timeoutMs: number): Promise<Transport> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DialError(description, `no connection after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(new DialError(description, err.message, err));
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      socket.setNoDelay(true);
      resolve(socketTransport(socket, description));
    });
  });
}
