// Runs an exported async function of a compiled test-support module inside the network namespace of the libvirt
// daemon that scripts/setup-host.sh started (its TCP and TLS listeners on 127.0.0.1 are that namespace's loopback).
// The function runs in a child `ip netns exec NS node <this file> …`; its JSON result comes back on fd 3, and a
// throw becomes an Error carrying the child's stderr (an assertion's message included). With someone else's daemon
// (no namespace recorded) the function simply runs in this process.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { libvirtdNetns } from "./libvirtd";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Calls `exportName` of the module at `modulePath` (a compiled .js path, e.g. require.resolve("./remote")) with `args`. */
export async function inDaemonNetns<T>(modulePath: string, exportName: string, ...args: Json[]): Promise<T> {
  const netns = libvirtdNetns();
  if (netns === null) return (await callExport(modulePath, exportName, args)) as T;
  const child = spawn("ip", ["netns", "exec", netns, process.execPath, __filename, modulePath, exportName, JSON.stringify(args)], {
    stdio: ["ignore", "inherit", "pipe", "pipe"],
  });
  const stderr: Buffer[] = [];
  const result: Buffer[] = [];
  child.stderr!.on("data", (b: Buffer) => stderr.push(b));
  (child.stdio[3] as NodeJS.ReadableStream).on("data", (b: Buffer) => result.push(b));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) {
    throw new Error(`${exportName} in netns ${netns} failed (exit ${code}):\n${Buffer.concat(stderr).toString("utf8").trim()}`);
  }
  const text = Buffer.concat(result).toString("utf8");
  return (text === "" ? undefined : JSON.parse(text)) as T;
}

async function callExport(modulePath: string, exportName: string, args: Json[]): Promise<unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fn = require(modulePath)[exportName];
  if (typeof fn !== "function") throw new Error(`${modulePath} exports no function ${exportName}`);
  return fn(...args);
}

/** The child's side: call, close the provider's shared connections (so node exits), report. */
async function childMain(): Promise<void> {
  const [modulePath, exportName, argsJson] = process.argv.slice(2);
  try {
    const value = await callExport(modulePath, exportName, JSON.parse(argsJson) as Json[]);
    if (value !== undefined) fs.writeSync(3, JSON.stringify(value));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  } finally {
    const { closeSharedClients } = await import("../../provider/src/libvirt/pool");
    const { closeSharedQemuClients } = await import("../../provider/src/qemu");
    await closeSharedClients();
    await closeSharedQemuClients();
  }
}

if (require.main === module) void childMain();
