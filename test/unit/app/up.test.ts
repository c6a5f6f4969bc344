/**
 * The one `up` pipeline against an in-memory runtime and kernel: every source (Kathara lab
 * directory, YAML, TypeScript module, a spec from code) goes through it, each option of `kinda up`
 * is honoured for every source it applies to, the source's format is recorded (not guessed), and
 * the handle it returns takes the lab down.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { programsFor } from "../../../src/core/host.js";
import { LABEL_DEVICE, LABEL_LAB } from "../../../src/core/names.js";
import type { ContainerInfo } from "../../../src/model/container.js";
import type { ClusterProvider } from "../../../src/model/provider.js";
import { ProviderRegistry } from "../../../src/providers/registry.js";
import { StateStore } from "../../../src/state/store.js";
import { dryRun, up, type UpOptions } from "../../../src/app/up.js";
import { MemoryKernel, MemoryRuntime } from "../../support/memory.js";
import { pathWith } from "../../support/path.js";
import { ROOT } from "../../support/env.js";

const hostPath = pathWith(programsFor(["lab", "cluster"]).map((p) => p.name));
const dir = mkdtempSync(join(tmpdir(), "kinda-unit-up-"));
const KATHARA = join(ROOT, "examples", "labs", "two-routers");

/** A YAML topology with vars and two Kubernetes nodes. */
const YAML = join(dir, "net.yaml");
writeFileSync(
  YAML,
  `name: upy
vars:
  img: kathara/base
routing: static
devices:
  - { name: r1, kind: router, image: "\${img}" }
  - { name: r2, kind: router, image: "\${img}" }
  - { name: c1, kind: control-plane }
  - { name: w1, kind: worker }
links:
  - { endpoints: [r1, r2], addresses: [10.9.0.1/30, 10.9.0.2/30] }
  - { endpoints: [r1, c1], addresses: [10.9.1.1/24, 10.9.1.2/24] }
  - { endpoints: [r2, w1], addresses: [10.9.2.1/24, 10.9.2.2/24] }
`,
);
/** The same network as a TypeScript module (plain data: nothing else is imported). */
const TS = join(dir, "net.ts");
writeFileSync(
  TS,
  `const spec = {
  name: "upts",
  routing: "static" as const,
  devices: [
    { name: "r1", kind: "router" as const },
    { name: "r2", kind: "router" as const },
    { name: "c1", kind: "control-plane" as const },
    { name: "w1", kind: "worker" as const },
  ],
  links: [
    { endpoints: ["r1", "r2"] as [string, string], addresses: ["10.9.0.1/30", "10.9.0.2/30"] as [string, string] },
    { endpoints: ["r1", "c1"] as [string, string], addresses: ["10.9.1.1/24", "10.9.1.2/24"] as [string, string] },
    { endpoints: ["r2", "w1"] as [string, string], addresses: ["10.9.2.1/24", "10.9.2.2/24"] as [string, string] },
  ],
};
export default spec;
`,
);
/** The same as a .js module: the format is "module" too, whatever the file name ends in. */
const JS = join(dir, "net.mjs");
writeFileSync(
  JS,
  `export default { name: "upjs", routing: "static", devices: [{ name: "r1", kind: "router" }, { name: "r2", kind: "router" }], links: [{ endpoints: ["r1", "r2"], addresses: ["10.9.0.1/30", "10.9.0.2/30"] }] };\n`,
);

/** A runtime that counts container starts in flight (each takes a little while). */
class CountingRuntime extends MemoryRuntime {
  inFlight = 0;
  maxInFlight = 0;
  override async start(id: string): Promise<ContainerInfo> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 20));
    try {
      return await super.start(id);
    } finally {
      this.inFlight--;
    }
  }
}

/** A provider registry whose "kind" records what it was asked for; the cluster is never built (networkOnly). */
function fakeProviders(): { providers: ProviderRegistry; asked: { name: string; options: Record<string, string> }[] } {
  const asked: { name: string; options: Record<string, string> }[] = [];
  const providers = new ProviderRegistry().register("kind", (name, options): ClusterProvider => {
    asked.push({ name, options });
    return { kind: "kind", name, create: async () => undefined, discover: async () => [], delete: async () => undefined };
  });
  return { providers, asked };
}

function deps(extra: UpOptions = {}) {
  const store = new StateStore(mkdtempSync(join(tmpdir(), "kinda-unit-up-state-")));
  const runtime = new CountingRuntime();
  const { providers, asked } = fakeProviders();
  const opts: UpOptions = { store, runtime, kernel: new MemoryKernel(), hostPath, providers, networkOnly: true, ...extra };
  return { store, runtime, asked, opts };
}

const images = async (runtime: MemoryRuntime, lab: string) =>
  Object.fromEntries((await runtime.list({ [LABEL_LAB]: lab })).map((c) => [c.labels[LABEL_DEVICE], c.image]));

describe("up: one pipeline for every source", () => {
  for (const [label, path, format, name] of [
    ["a Kathara lab directory", KATHARA, "kathara", "two-routers"],
    ["a YAML topology", YAML, "yaml", "upy"],
    ["a TypeScript module", TS, "module", "upts"],
    ["a JavaScript module", JS, "module", "upjs"],
  ] as const) {
    it(`${label}: deploys, records its format (${format}), and the handle takes it down`, async () => {
      const { store, runtime, opts } = deps();
      const lab = await up(path, opts);
      assert.equal(lab.name, name);
      assert.equal(store.read(name)?.kind, format);
      assert.ok((await runtime.list({ [LABEL_LAB]: name })).length >= 2);
      await lab[Symbol.asyncDispose]();
      assert.equal(store.read(name), undefined, "the state is gone");
      assert.equal((await runtime.list({ [LABEL_LAB]: name })).length, 0, "and so are the containers");
    });

    it(`${label}: --name, --image-map and --parallelism are honoured`, async () => {
      const { store, runtime, opts } = deps({ name: `${name}-x`, imageMap: { "kathara/base": "mine/base:1" }, parallelism: 1 });
      await up(path, opts);
      assert.ok(store.read(`${name}-x`), "deployed under the name given");
      assert.equal(store.read(name), undefined);
      const im = await images(runtime, `${name}-x`);
      assert.ok(Object.values(im).length >= 2 && Object.values(im).every((i) => i === "mine/base:1"), JSON.stringify(im));
      assert.deepEqual(store.read(`${name}-x`)?.imageMap, { "kathara/base": "mine/base:1" });
      assert.equal(runtime.maxInFlight, 1, "one container operation at a time");

      const wide = deps({ parallelism: 8 });
      await up(path, wide.opts);
      assert.ok(wide.runtime.maxInFlight > 1, `several in flight with --parallelism 8 (saw ${wide.runtime.maxInFlight})`);
    });
  }

  it("a spec from code goes through the same pipeline (format api)", async () => {
    const { store, opts } = deps();
    const lab = await up(
      {
        name: "upspec",
        devices: [
          { name: "a", kind: "router" },
          { name: "b", kind: "host" },
        ],
        links: [{ endpoints: ["a", "b"] }],
      },
      { ...opts, parallelism: 2 },
    );
    assert.equal(store.read("upspec")?.kind, "api");
    await lab.down();
  });
});

describe("up: the options of Kubernetes nodes", () => {
  for (const [label, path] of [
    ["YAML", YAML],
    ["TypeScript", TS],
  ] as const) {
    it(`${label}: --node-image reaches the provider, --encapsulation the cluster plan; both recorded for restart`, async () => {
      const { store, asked, opts } = deps({ name: "upk", nodeImage: "kinda-k8s/node:test", encapsulation: "none", clusterName: "upkc" });
      const lab = await up(path, opts);
      assert.deepEqual(asked, [{ name: "upkc", options: { image: "kinda-k8s/node:test" } }]);
      assert.equal(lab.compiled?.clusterOptions.encapsulation, "none");
      assert.deepEqual(store.read("upk")?.upOptions, { nodeImage: "kinda-k8s/node:test", encapsulation: "none", clusterName: "upkc" });
    });
  }

  it("are refused for a Kathara lab, before anything is created", async () => {
    const { store, opts } = deps({ nodeImage: "x:1", encapsulation: "none" });
    await assert.rejects(
      up(KATHARA, opts),
      /--node-image and --encapsulation: .*two-routers is a Kathara lab, which has no Kubernetes nodes/,
    );
    assert.deepEqual(store.list(), []);
  });
});

describe("up: --var", () => {
  it("sets a YAML topology's vars (and is recorded)", async () => {
    const { store, runtime, opts } = deps({ vars: { img: "other/img:2" } });
    await up(YAML, opts);
    assert.deepEqual(await images(runtime, "upy"), { r1: "other/img:2", r2: "other/img:2" });
    assert.deepEqual(store.read("upy")?.upOptions, { vars: { img: "other/img:2" } });
  });

  it("is refused for every other source, before anything is created", async () => {
    for (const p of [KATHARA, TS]) {
      const { store, opts } = deps({ vars: { img: "x" } });
      await assert.rejects(up(p, opts), /--var sets a YAML topology's vars:/);
      assert.deepEqual(store.list(), []);
    }
  });
});

describe("up: --dry-run goes through the same planning", () => {
  it("prints the plan with the same options, creating nothing", async () => {
    const { store, runtime, opts } = deps({ name: "updry", encapsulation: "none", vars: { img: "other/img:2" } });
    const text = await dryRun(YAML, opts);
    assert.match(text, /container kinda-updry-r1/);
    assert.match(text, /other\/img:2/);
    assert.match(text, /encapsulation none/);
    assert.deepEqual(store.list(), []);
    assert.equal(runtime.containers.size, 0);
  });
});

describe("up: host programs", () => {
  it("are checked once, all at once, before anything is created (the cluster's too for a topology with nodes)", async () => {
    const { store, runtime, opts } = deps({ hostPath: pathWith(programsFor(["lab"]).map((p) => p.name)) });
    await assert.rejects(up(YAML, opts), /host programs that kinda runs are missing \(nothing was created\):[^]*ethtool/);
    assert.deepEqual(store.list(), []);
    assert.equal(runtime.containers.size, 0);
  });
});
