/**
 * Fuzzing the parsers of untrusted input (lab.conf, lab.dep, YAML topologies) with fast-check:
 * whatever the text, they either accept it or reject it with a TopologyError whose every problem
 * has a place (file and line, or device and field), and never crash. Runs KINDA_FUZZ_SECONDS
 * (default 60) in all, split between the parsers; `npm run test:fuzz`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { TopologyError, type Issue } from "../../src/core/errors.js";
import { KNOWN_OPTIONS, parseLabConf, parseLabDep } from "../../src/topology/kathara.js";
import { parseTopologyYaml } from "../../src/topology/yaml.js";
import { compileTopology as compileSpec } from "../../src/app/topology.js"; // with the static router bound, as users get it
import { planLab } from "../../src/plan/lab.js";

const SECONDS = Number(process.env["KINDA_FUZZ_SECONDS"] ?? 60);
const PER_PROPERTY_MS = (SECONDS * 1000) / 4;

/** Runs a property for its share of the time (as many cases as fit), failing on the first counterexample. */
function fuzz<T>(arb: fc.Arbitrary<T>, check: (v: T) => void): void {
  const t0 = Date.now();
  const r = fc.check(fc.property(arb, check), {
    numRuns: 1_000_000_000,
    interruptAfterTimeLimit: PER_PROPERTY_MS,
    markInterruptAsFailure: false,
  });
  if (r.failed) assert.fail(`counterexample after ${r.numRuns} runs: ${JSON.stringify(r.counterexample)}\n${r.errorInstance}`);
  assert.ok(r.numRuns > 100, `only ${r.numRuns} cases in ${Date.now() - t0} ms`);
  process.stdout.write(`# ${r.numRuns} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

function located(i: Issue): boolean {
  return (i.file !== undefined && i.line !== undefined) || i.device !== undefined || i.field !== undefined;
}

/** Accepts (returns) or throws a TopologyError all of whose issues have places; anything else fails. */
function acceptOrLocate<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof TopologyError)) throw new Error(`not a TopologyError: ${(e as Error)?.stack ?? String(e)}`, { cause: e });
    const bad = e.issues.filter((i) => !located(i));
    if (bad.length) throw new Error(`rejections without a place: ${JSON.stringify(bad)}`, { cause: e });
    return undefined;
  }
}

const NAMES = ["a", "r1", "pc_2", "shared", "_test", "A", "r-1", "x".repeat(31), "ä", ""];
// interface numbers, every option the parser knows (its own list, so a new option is fuzzed too), and unknown ones
const OPTIONS = ["0", "1", "2", "9", ...KNOWN_OPTIONS, "bogus", ""];
const VALUES = [
  "A",
  "B/00:11:22:33:44:55",
  "lo",
  "kathara/frr",
  "512m",
  "1.5",
  "8080:80/tcp",
  "true",
  "nope",
  "net.ipv4.ip_forward=1",
  "net.no.such=1",
  "nofile=10:5",
  "nofile=1024",
  "/data|/data|ro",
  "a:b|/x",
  "/bin/sh",
  "sleep 1",
  "'quoted'",
  '"a b"',
  "x y",
  "2.5",
  "-1",
  "1e999",
  "\u0000",
  "\\",
  "é",
];

const labConfLine = fc.oneof(
  fc
    .tuple(fc.constantFrom(...NAMES), fc.constantFrom(...OPTIONS), fc.constantFrom(...VALUES), fc.constantFrom('"', "'", "", '"'))
    .map(([n, o, v, q]) => `${n}[${o}]=${q}${v}${q}`),
  fc.constantFrom("# comment", "", "LAB_NAME=x", "LAB_BOGUS=1", 'a[0] = "A"', "[]=", "a[0]=", '  a[0]="A"  # c'),
  fc.string({ maxLength: 40 }),
);
const labConf = fc.array(labConfLine, { maxLength: 30 }).map((ls) => ls.join(fc.sample(fc.constantFrom("\n", "\r\n"), 1)[0]));

describe("fuzzing the parsers of lab contents", () => {
  it("lab.conf: accepted and planned, or refused with every problem placed; never a crash", () => {
    fuzz(labConf, (text) => {
      const p = parseLabConf(text, "lab.conf");
      for (const i of p.issues) assert.ok(located(i), `no place: ${JSON.stringify(i)}`);
      for (const w of p.warnings) assert.ok(w.place, `warning without a place: ${w.message}`);
      if (p.issues.length === 0)
        acceptOrLocate(() =>
          planLab({ metadata: p.metadata, devices: p.devices, warnings: p.warnings }, { name: "fz", sharedDir: "/s", stageRoot: "/st" }),
        );
    });
  });

  it("lab.dep: every problem has its line; loops are found without recursion limits", () => {
    const devices = parseLabConf(["a", "b", "c", "d"].map((n) => `${n}[0]="A"`).join("\n")).devices;
    const depLine = fc.oneof(
      fc
        .tuple(fc.constantFrom("a", "b", "c", "d", "e", "A"), fc.array(fc.constantFrom("a", "b", "c", "d", "zz", ":"), { maxLength: 4 }))
        .map(([n, ds]) => `${n}: ${ds.join(" ")}`),
      fc.string({ maxLength: 20 }),
    );
    fuzz(fc.array(depLine, { maxLength: 12 }), (lines) => {
      const fresh = devices.map((d) => ({ ...d, dependsOn: [] as string[] }));
      for (const i of parseLabDep(lines.join("\n"), fresh, "lab.dep"))
        assert.ok(i.file === "lab.dep" && (i.line !== undefined || /dependency loop/.test(i.message)), JSON.stringify(i));
    });
  });

  const yamlDevice = fc.record(
    {
      name: fc.constantFrom("r1", "r2", "w1", "c1", "lb", "R", "x".repeat(40), 1),
      kind: fc.constantFrom("router", "switch", "host", "external", "worker", "control-plane", "load-balancer", "bogus"),
      image: fc.constantFrom("kathara/frr", "", 3),
      startup: fc.array(fc.constantFrom("ip a", "; rm -rf /", ""), { maxLength: 2 }),
      startupTimeout: fc.constantFrom(1, 0, -1, "x", 2.5),
      mtu: fc.constantFrom(1500, 10, "x"),
    },
    { requiredKeys: ["name", "kind"] },
  );
  const yamlLink = fc.record(
    {
      endpoints: fc.array(fc.constantFrom("r1", "r2", "w1", "c1", "lb", "nope"), { minLength: 0, maxLength: 3 }),
      addresses: fc.array(
        fc.constantFrom("10.0.1.1/24", "10.0.1.2/24", "10.0.2.1/30", "fd00::1/64", "300.1.1.1/24", "10.244.0.1/24", "x"),
        { maxLength: 3 },
      ),
      tc: fc.record(
        {
          rate: fc.constantFrom("10mbit", "1k; x", "", 5),
          burst: fc.constantFrom("32kbit", "1k; qdisc del dev eth0 root"),
          latency: fc.constantFrom("50ms", "soon"),
        },
        { requiredKeys: [] },
      ),
      mtu: fc.constantFrom(1500, 70000),
    },
    { requiredKeys: ["endpoints"] },
  );
  const yamlDoc = fc.record(
    {
      name: fc.constantFrom("t", "T!", "", "a".repeat(50)),
      routing: fc.constantFrom("static", "none", "bgp"),
      encapsulation: fc.constantFrom("vxlan", "gre", "none", "x"),
      root: fc.constantFrom("r1", "nope"),
      devices: fc.array(yamlDevice, { maxLength: 6 }),
      links: fc.array(yamlLink, { maxLength: 6 }),
      cluster: fc.record({ internetVia: fc.constantFrom("r1", "zz"), apiThroughNetwork: fc.boolean() }, { requiredKeys: [] }),
    },
    { requiredKeys: [] },
  );

  it("YAML from structure: accepted and planned, or refused at file:line for every problem", () => {
    fuzz(yamlDoc, (doc) => {
      const text = JSON.stringify(doc, null, 1); // JSON is YAML: positions still count
      yamlCase(text);
    });
  });

  it("YAML from text: syntax errors, wrong types and odd scalars are placed too", () => {
    const line = fc.oneof(
      fc.constantFrom(
        "name: t",
        "devices:",
        "  - { name: r1, kind: router }",
        "  - name: w1",
        "    kind: worker",
        "links:",
        "  - endpoints: [r1, w1]",
        "    addresses: [10.0.1.1/24, 10.0.1.2/24]",
        "    tc: { rate: 10mbit, burst: '1k; x' }",
        "routing: static",
        "&a [*a]",
        "? x",
        "- -",
        "name: [",
        "{",
        "'",
      ),
      fc.string({ maxLength: 30 }),
    );
    fuzz(fc.array(line, { maxLength: 14 }), (ls) => yamlCase(ls.join("\n")));
  });
});

function yamlCase(text: string): void {
  const y = acceptOrLocate(() => parseTopologyYaml(text, "t.yaml"));
  if (!y) return;
  const compiled = acceptOrLocate(() => compileSpec(y.spec, y.where));
  if (!compiled) return;
  acceptOrLocate(() => planLab(compiled.lab, { name: "fz", sharedDir: "/s", stageRoot: "/st" }));
}
