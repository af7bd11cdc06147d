// The claims element kept in a domain's <metadata>: read as libvirt returns it, built as libvirt takes it.
import { strict as assert } from "node:assert";
import { buildClaims, CLAIMS_NAMESPACE, otherClaims, parseClaims, withClaim, withoutClaim } from "../../../provider/src/vocab/device-claims";
import { parseDomainXml } from "../../../provider/src/vocab/domain-xml";

const a = { device: "ua-disk-data-aaaaaaaaaaaa", owner: "urn:pulumi:prod::shop::pulumi-nodejs:dynamic/libvirt:Disk::data", source: "/a.raw" };
const b = { device: "ua-disk-data-aaaaaaaaaaaa", owner: "urn:pulumi:dev::shop::pulumi-nodejs:dynamic/libvirt:Disk::data", source: "/a.raw" };

describe("device claims", () => {
  it("round-trips, including an empty drive and characters XML must escape", () => {
    const odd = { device: "lvc-x", owner: `urn:pulumi:s::p::t::a"<&>'b`, source: null };
    assert.deepEqual(parseClaims(buildClaims([a, odd])), [a, odd]);
  });

  it("reads the element with the prefix libvirt writes into the domain XML", () => {
    const xml = `<plv:claims xmlns:plv="${CLAIMS_NAMESPACE}"><plv:device name="${a.device}" owner="${a.owner}" source="/a.raw"/></plv:claims>`;
    assert.deepEqual(parseClaims(xml), [a]);
    assert.deepEqual(parseClaims(null), []);
    assert.deepEqual(parseClaims("<other/>"), [], "someone else's element is not ours");
  });

  it("come with the domain XML as libvirt formats it (parseDomainXml), only from our namespace", () => {
    const domainXml = (metadata: string) =>
      `<domain type='qemu'><name>web</name><metadata>${metadata}</metadata><os><type arch='x86_64' machine='pc'>hvm</type></os><devices/></domain>`;
    const ours = `<plv:claims xmlns:plv="${CLAIMS_NAMESPACE}">\n  <plv:device name="${a.device}" owner="${a.owner}" source="/a.raw"/>\n  <plv:device name="${b.device}" owner="${b.owner}" source="/a.raw"/>\n</plv:claims>`;
    assert.deepEqual(parseDomainXml(domainXml(ours)).claims, [a, b]);
    const foreign = `<x:claims xmlns:x="https://example.invalid/other"><x:device name="${a.device}" owner="someone"/></x:claims>`;
    assert.deepEqual(parseDomainXml(domainXml(foreign)).claims, [], "another application's element of the same name");
    assert.deepEqual(parseDomainXml(domainXml(foreign + ours)).claims, [a, b]);
    assert.deepEqual(parseDomainXml(domainXml("")).claims, []);
  });

  it("a claim replaces the same owner's older one and never another owner's", () => {
    const claims = withClaim(withClaim([a], b), { ...a, source: "/new.raw" });
    assert.equal(claims.length, 2);
    assert.deepEqual(otherClaims(claims, a.device, a.owner), [b]);
    assert.deepEqual(otherClaims(claims, a.device, undefined), claims, "a record without an owner sees every claim as another's");
    assert.deepEqual(withoutClaim(claims, a.device, a.owner), [b]);
  });
});
