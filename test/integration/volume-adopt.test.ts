// Volume `adopt: true` takes over a volume made outside Pulumi (here with virsh), only when it is what the
// inputs describe; and a create that fails after libvirt made the volume leaves nothing behind.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { volume, volumeFaults } from "../../provider/src/resources/volume";
import type { VolumeInputs } from "../../provider/src/resources/inputs";
import { uniqueName, virsh } from "../support/host";
import { checked, create, remove } from "../support/provider";

const MiB = 1024 * 1024;

const exists = (name: string): boolean => {
  try {
    execFileSync("virsh", ["-q", "-c", "qemu:///system", "vol-info", "--pool", "default", name], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

describe("Volume: adopt an existing volume; a failed create leaves none", function () {
  this.timeout(60_000);
  const names: string[] = [];
  const volName = () => {
    const name = `${uniqueName("vol-adopt")}.qcow2`;
    names.push(name);
    return name;
  };

  after(() => {
    for (const name of names) {
      try {
        execFileSync("virsh", ["-q", "-c", "qemu:///system", "vol-delete", "--pool", "default", name], { stdio: "ignore" });
      } catch {
        // deleted by the test
      }
    }
  });

  const describeCreate = async (inputs: Record<string, unknown>): Promise<string> =>
    String(await volume.describeCreate!((await checked("Volume", inputs)) as VolumeInputs));

  it("adopts a volume made with virsh (same key and path), grows it, refuses other formats, shrinking, another backing store; delete removes it", async () => {
    const name = volName();
    assert.equal(await describeCreate({ name, capacityBytes: 4 * MiB, adopt: true }), `Volume ${name}: create in pool default`);
    virsh("vol-create-as", "default", name, "1M", "--format", "qcow2");
    const key = virsh("vol-key", "--pool", "default", name).trim();
    const volPath = virsh("vol-path", "--pool", "default", name).trim();

    assert.equal(await describeCreate({ name, capacityBytes: 4 * MiB, adopt: true }), `Volume ${name}: adopt existing volume in pool default`);
    assert.match(await describeCreate({ name, capacityBytes: 4 * MiB }), /already exists in pool default; up will fail unless the Volume sets adopt: true/);
    await assert.rejects(create("Volume", { name, capacityBytes: 4 * MiB }), /a volume named ".*" already exists in pool "default"; set adopt: true to take it over/);

    await assert.rejects(create("Volume", { name, capacityBytes: 4 * MiB, format: "raw", adopt: true }), /adopt: format: the existing volume is qcow2, the inputs say raw/);
    await assert.rejects(
      create("Volume", { name, capacityBytes: 512 * 1024, adopt: true }),
      /adopt: capacityBytes: the existing volume holds 1048576 bytes, the inputs say 524288; shrinking would lose data/,
    );
    await assert.rejects(
      create("Volume", { name, capacityBytes: 4 * MiB, adopt: true, backingStore: { path: "/var/lib/libvirt/images/base.qcow2", format: "qcow2" } }),
      /adopt: backingStore: the existing volume has none, the inputs say \/var\/lib\/libvirt\/images\/base\.qcow2 \(qcow2\)/,
    );
    assert.match(virsh("vol-info", "--bytes", "--pool", "default", name), /Capacity:\s+1048576 bytes/, "a refused adopt changes nothing");

    const adopted = await create("Volume", { name, capacityBytes: 4 * MiB, adopt: true });
    assert.equal(adopted.id, key);
    assert.equal(adopted.outs.key, key);
    assert.equal(adopted.outs.path, volPath);
    assert.equal(adopted.outs.capacityBytes, 4 * MiB);
    assert.match(virsh("vol-info", "--bytes", "--pool", "default", name), /Capacity:\s+4194304 bytes/);

    await remove("Volume", adopted.id, adopted.outs);
    assert.equal(exists(name), false);
  });

  it("a create that fails after libvirt made the volume deletes it again, so the next create succeeds", async () => {
    const name = volName();
    volumeFaults.afterCreate = async (vol) => {
      assert.equal(exists(vol.name), true, "the fault strikes after the volume exists");
      throw new Error("injected failure after createVolume");
    };
    try {
      await assert.rejects(create("Volume", { name, capacityBytes: 4 * MiB }), /injected failure after createVolume/);
    } finally {
      delete volumeFaults.afterCreate;
    }
    assert.equal(exists(name), false, "nothing left behind");
    const vol = await create("Volume", { name, capacityBytes: 4 * MiB });
    assert.equal(vol.outs.capacityBytes, 4 * MiB);
    await remove("Volume", vol.id, vol.outs);
  });
});
