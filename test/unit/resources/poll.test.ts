// pollUntil: how the provider waits for QEMU and libvirt to finish a change (an unplug, a node release).
import { strict as assert } from "node:assert";
import { pollUntil } from "../../../provider/src/resources/qemu";

describe("pollUntil", () => {
  it("sees a change that is already done on the first check, without waiting", async () => {
    let checks = 0;
    const started = Date.now();
    assert.equal(await pollUntil(async () => (checks++, true), { timeoutMs: 5_000, firstIntervalMs: 1_000 }), true);
    assert.equal(checks, 1);
    assert.ok(Date.now() - started < 500);
  });

  it("checks again as soon as the wake event fires, instead of sleeping out a long pause", async () => {
    let done = false;
    let checks = 0;
    const wake = new Promise<void>((resolve) =>
      setTimeout(() => {
        done = true;
        resolve();
      }, 30),
    );
    const started = Date.now();
    const result = await pollUntil(async () => (checks++, done), { timeoutMs: 20_000, firstIntervalMs: 10_000, maxIntervalMs: 10_000, wake });
    assert.equal(result, true);
    assert.equal(checks, 2, "one check before the event, one right after it");
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
  });

  it("keeps polling when the event never comes (a reconnect lost it), and gives up at the deadline", async () => {
    let checks = 0;
    const never = new Promise<void>(() => undefined);
    const result = await pollUntil(async () => (checks++, checks === 4), { timeoutMs: 5_000, firstIntervalMs: 5, maxIntervalMs: 10, wake: never });
    assert.equal(result, true);
    assert.equal(checks, 4);

    const started = Date.now();
    assert.equal(await pollUntil(async () => false, { timeoutMs: 60, firstIntervalMs: 5, maxIntervalMs: 10 }), false);
    const waited = Date.now() - started;
    assert.ok(waited >= 55 && waited < 2_000, `waited ${waited} ms`);
  });
});
