import { strict as assert } from "node:assert";
import { shareForMoment } from "../../../provider/src/resources/shared-moment";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("answers shared for a moment (refresh reads of one domain)", () => {
  it("reads within the moment share one answer; after it, the next read asks again", async () => {
    const share = shareForMoment<number>(50);
    let asked = 0;
    const ask = async () => ++asked;
    assert.deepEqual(await Promise.all([share.get("d", ask), share.get("d", ask), share.get("d", ask)]), [1, 1, 1]);
    assert.equal(await share.recent("d"), 1);
    assert.equal(await share.get("other", ask), 2, "another key asks for itself");
    await sleep(70);
    assert.equal(share.recent("d"), undefined);
    assert.equal(await share.get("d", ask), 3);
  });

  it("a failed answer is not kept, and a change (clear) drops every answer", async () => {
    const share = shareForMoment<string>(10_000);
    await assert.rejects(share.get("d", async () => Promise.reject(new Error("daemon away"))), /daemon away/);
    assert.equal(await share.get("d", async () => "read again"), "read again");
    share.clear();
    assert.equal(share.recent("d"), undefined);
    assert.equal(await share.get("d", async () => "after the change"), "after the change");
  });
});
