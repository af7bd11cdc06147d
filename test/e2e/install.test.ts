// Installing the package into one's own Pulumi program, as the README says: from an `npm pack` tarball, from a
// git URL and from a local path (--install-links). Each gives a package with its compiled dist/ (a `prepare`
// build where npm builds it) and without the Pulumi CLI's build files; the tarball's program runs
// `pulumi preview` with the real CLI. Offline: npm's cache is warm from the repo's own install.
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO } from "./support/stack";

const NPM_FLAGS = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"];

function programFolder(root: string, name: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), `name: ${name}\nruntime: nodejs\ndescription: installed from a package\n`);
  const pulumiVersion = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")).dependencies["@pulumi/pulumi"];
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, private: true, main: "index.js", dependencies: { "@pulumi/pulumi": pulumiVersion } }, null, 2));
  fs.writeFileSync(
    path.join(dir, "index.js"),
    `const virt = require("pulumi-libvirt-live");
const vol = new virt.Volume("data", { name: "lvt-install-${process.pid}.qcow2", format: "qcow2", capacityBytes: 1048576 });
exports.path = vol.path;
`,
  );
  return dir;
}

function npmInstall(dir: string, spec: string, extra: string[] = []): void {
  const r = spawnSync("npm", ["install", ...NPM_FLAGS, ...extra, spec], { cwd: dir, encoding: "utf8", timeout: 400_000 });
  assert.equal(r.status, 0, `npm install ${spec} failed:\n${r.stdout}\n${r.stderr}`);
}

function assertInstalled(dir: string): void {
  const pkg = path.join(dir, "node_modules/pulumi-libvirt-live");
  assert.ok(!fs.lstatSync(pkg).isSymbolicLink(), "a copy, not a link to the working tree");
  assert.ok(fs.existsSync(path.join(pkg, "dist/sdk/src/index.js")), "the SDK is compiled");
  assert.ok(fs.existsSync(path.join(pkg, "dist/provider/src/resources/registry.js")), "the provider is compiled");
  assert.ok(!fs.existsSync(path.join(pkg, "scripts/pulumi-cli")), "the Pulumi CLI's build files stay out");
  assert.ok(!fs.existsSync(path.join(pkg, "dist/test")), "no tests");
  const loaded = execFileSync("node", ["-e", 'const v = require("pulumi-libvirt-live"); console.log(typeof v.Domain, typeof v.GuestExec)'], { cwd: dir, encoding: "utf8" });
  assert.equal(loaded.trim(), "function function");
}

describe("e2e: installing the package into a program of one's own", function () {
  this.timeout(900_000);
  let tmp: string;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lvt-install-"));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("an npm pack tarball installs with its dist/, and `pulumi preview` runs in the program", () => {
    const packed = execFileSync("npm", ["pack", "--pack-destination", tmp, "--loglevel=error"], { cwd: REPO, encoding: "utf8" }).trim().split("\n").pop()!;
    const tarball = path.join(tmp, packed);
    const listing = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" });
    assert.ok(!/scripts\/pulumi-cli/.test(listing), "the CLI's Go module is not packed");
    const dir = programFolder(tmp, "from-tarball");
    npmInstall(dir, tarball);
    assertInstalled(dir);

    const env = {
      ...process.env,
      PULUMI_BACKEND_URL: `file://${path.join(dir, ".backend")}`,
      PULUMI_HOME: path.join(dir, ".pulumi-home"),
      PULUMI_CONFIG_PASSPHRASE: "",
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      NO_COLOR: "1",
    };
    fs.mkdirSync(path.join(dir, ".backend"));
    execFileSync("pulumi", ["stack", "init", "dev", "--non-interactive"], { cwd: dir, env, stdio: "pipe" });
    const preview = spawnSync("pulumi", ["preview", "--non-interactive"], { cwd: dir, env, encoding: "utf8", timeout: 300_000 });
    const printed = `${preview.stdout}\n${preview.stderr}`;
    assert.equal(preview.status, 0, printed);
    assert.match(printed, /\+\s+pulumi-nodejs:dynamic\/libvirt:Volume\s+data\s+create/, printed);
  });

  it("a git URL (git+file://) installs with a prepare build", () => {
    const dir = programFolder(tmp, "from-git");
    npmInstall(dir, `git+file://${REPO}`);
    assertInstalled(dir);
  });

  it("a local path installs with --install-links (a packed copy, built by prepare)", () => {
    const dir = programFolder(tmp, "from-path");
    npmInstall(dir, REPO, ["--install-links"]);
    assertInstalled(dir);
  });
});
