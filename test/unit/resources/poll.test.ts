// pollUntil: how the provider waits for QEMU and libvirt to finish a change (an unplug, a node release).
import { strict as assert } from "node:assert";
import { pollUntil } from "../../../provider/src/resources/qemu";

describe("pollUntil", () => {
  // Bounds: the intervals a wrong implementation would sleep are 60 s, the bounds 30 s, so a loaded machine's
  // stalls (hundreds of ms) never fail these, and a sleep out of the interval always does.
  it("sees a change that is already done on the first check, without waiting", async () => {
    let checks = 0;
    const started = Date.now();
    assert.equal(await pollUntil(async () => (checks++, true), { timeoutMs: 120_000, firstIntervalMs: 60_000 }), true);
    assert.equal(checks, 1);
    assert.ok(Date.now() - started < 30_000);
  }).timeout(40_000);

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
    const result = await pollUntil(async () => (checks++, done), { timeoutMs: 120_000, firstIntervalMs: 60_000, maxIntervalMs: 60_000, wake });
    assert.equal(result, true);
    assert.equal(checks, 2, "one check before the event, one right after it");
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
  }).timeout(40_000);

  it("keeps polling when the event never comes (a reconnect lost it), and gives up at the deadline", async () => {
    let checks = 0;
    const never = new Promise<void>(() => undefined);
    const result = await pollUntil(async () => (checks++, checks === 4), { timeoutMs: 5_000, firstIntervalMs: 5, maxIntervalMs: 10, wake: never });
    assert.equal(result, true);
    assert.equal(checks, 4);

    const started = Date.now();
    assert.equal(await pollUntil(async () => false, { timeoutMs: 60, firstIntervalMs: 5, maxIntervalMs: 10 }), false);
    const waited = Date.now() - started;
    assert.ok(waited >= 55 && waited < 30_000, `waited ${waited} ms`);
  });
});
