// A real guest for integration tests: the tiny busybox + qemu-ga initramfs from scripts/build-guest.sh, booted
// through the project's own Domain handlers (so the tests also exercise them), and removed the same way.
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { agentCall } from "../../provider/src/resources/agent";
import { clientFor } from "../../provider/src/resources/handler";
import { domain, DomainOutputs } from "../../provider/src/resources/domain";
import { validateInputs } from "../../provider/src/resources/validate";
import { guestExec, guestExecStatus, guestPing, parseGuestExecStarted, parseGuestExecStatus } from "../../provider/src/vocab/qga";
import { domainType } from "./host";

export interface GuestArtifacts {
  kernel: string;
  initrd: string;
}

export interface BootedGuest extends DomainOutputs {
  /** How long domain.create took: it returns once the agent answers guest-ping. */
  bootToAgentMs: number;
}

const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
const BUILD_SCRIPT = path.join(REPO_ROOT, "scripts", "build-guest.sh");
/** The guest's boot line: serial console, quiet, and a kernel panic powers off instead of hanging. */
export const GUEST_CMDLINE = "console=ttyS0 quiet panic=-1";

let artifacts: GuestArtifacts | null = null;

/** Builds the guest once per test process (the script caches across runs: ~0.1 s when built). */
export function guestArtifacts(): GuestArtifacts {
  if (!artifacts) {
    const dir = execFileSync("bash", [BUILD_SCRIPT], { encoding: "utf8", env: { ...process.env, GUEST_QUIET: "1" } }).trim();
    artifacts = { kernel: path.join(dir, "vmlinux"), initrd: path.join(dir, "initrd.gz") };
  }
  return artifacts;
}

/** Inputs as `check` would hand them to create: validated against schema.json, defaults applied. */
export function domainInputs(name: string, overrides: Record<string, unknown> = {}) {
  const { kernel, initrd } = guestArtifacts();
  const { inputs, failures } = validateInputs("Domain", {
    name,
    type: domainType(),
    memoryMiB: 256,
    vcpus: 1,
    boot: { kernel, initrd, cmdline: GUEST_CMDLINE },
    guestAgent: true,
    waitForAgentSeconds: 120,
    shutdownTimeoutSeconds: 2,
    ...overrides,
  });
  if (failures.length > 0) throw new Error(`invalid Domain inputs: ${JSON.stringify(failures)}`);
  return inputs;
}

/**
 * Creates and starts the guest through domain.create, which returns only once its agent answers
 * (waitForAgentSeconds). Checked here with one guest-ping and no retry: libvirt answers "agent not connected" at
 * once when qemu-ga is not up yet, so a create that returned early fails every test that boots a guest.
 */
export async function bootGuest(name: string, overrides: Record<string, unknown> = {}): Promise<BootedGuest> {
  const inputs = domainInputs(name, overrides);
  const started = Date.now();
  const { outs } = await domain.create(inputs);
  const bootToAgentMs = Date.now() - started;
  const client = await clientFor(outs.uri);
  try {
    await agentCall(client, await client.lookupDomainByUuid(outs.uuid), guestPing(), 30);
  } catch (error) {
    await domain.delete(outs.uuid, outs).catch(() => undefined);
    throw new Error(`domain.create of ${name} returned before its guest agent answered (waitForAgentSeconds ${inputs.waitForAgentSeconds}): ${(error as Error).message}`);
  }
  return { ...outs, bootToAgentMs };
}

/** Deletes the guest through the Domain handlers (shutdown, then destroy after shutdownTimeoutSeconds). */
export async function destroyGuest(outputs: DomainOutputs): Promise<void> {
  await domain.delete(outputs.uuid, outputs);
}

export interface GuestRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command in the guest directly over the agent, without the GuestExec resource: the tests' own eyes. */
export async function runInGuest(guest: DomainOutputs, path: string, args: string[] = [], timeoutSeconds = 30): Promise<GuestRun> {
  const client = await clientFor(guest.uri);
  const dom = await client.lookupDomainByUuid(guest.uuid);
  const { pid } = parseGuestExecStarted(await agentCall(client, dom, guestExec({ path, args }), 10));
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (Date.now() < deadline) {
    const status = parseGuestExecStatus(await agentCall(client, dom, guestExecStatus(pid), 10));
    if (status.exited) return { exitCode: status.exitCode, stdout: status.stdout, stderr: status.stderr };
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${path} ${args.join(" ")} still runs in ${guest.name} after ${timeoutSeconds} s (pid ${pid})`);
}

/** The guest's own block device names (/sys/block), e.g. ["vda", "sda"]. */
export async function guestBlockDevices(guest: DomainOutputs): Promise<string[]> {
  const { stdout } = await runInGuest(guest, "/bin/ls", ["/sys/block"]);
  return stdout.split(/\s+/).filter((name) => name.length > 0 && !name.startsWith("loop") && !name.startsWith("ram"));
}
