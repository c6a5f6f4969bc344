/**
 * Issue 30, gap 5: a P4 program that leaves egress_spec unset sends the frame out of BMv2's
 * port 0 (targets/simple_switch/simple_switch.cpp), and kinda's port 0 is the switch's first
 * link. What a user sees before anything is made: `kinda up --dry-run` (the same planning as
 * `kinda up`) warns, naming why and which interface port 0 is. Checked on p4c's real output
 * (simple_router, read from KINDA_P4_PROGRAMS_DIR, default ../shared/p4-programs; never copied
 * in), with BMv2's own commands.txt entries for it: its misses drop, so what is left is real
 * (a frame that is not IPv4 meets no table: h2's ARP leaves by port 0, which
 * test/integration/p4-bmv2.test.ts shows on the switch). Before the warning (d7465c8^) the
 * plan said nothing of it: this test failed there ("no warning about port 0").
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { planTopology } from "../../../src/app/topology.js";
import { formatPlan } from "../../../src/plan/lab.js";
import { StateStore } from "../../../src/state/store.js";
import { loadTopologyYaml } from "../../../src/topology/yaml.js";
import { ROOT } from "../../support/env.js";

const DIR = resolve(process.env["KINDA_P4_PROGRAMS_DIR"] ?? join(ROOT, "..", "shared", "p4-programs"));
const PROGRAM = join(DIR, "targets_simple_router_simple_router.json");
const MISSING =
  `the port-0 warning check on p4c's simple_router did not run: no ${PROGRAM}; ` +
  "to run it: KINDA_P4_PROGRAMS_DIR=/path/to/p4-programs npm run -s test:unit";
const dir = mkdtempSync(join(tmpdir(), "kinda-p4port0-"));

/** h1 - s1 - h2 with s1 running `program`; `first` is the host whose link is listed first (s1's port 0). */
function plan(program: string, cli: string[], first: "h1" | "h2"): string {
  const links = {
    h1: "  - { endpoints: [h1, s1], addresses: [10.0.11.1/24, 10.0.11.254/24] }",
    h2: "  - { endpoints: [s1, h2], addresses: [10.0.12.254/24, 10.0.12.1/24] }",
  };
  const file = join(dir, `p4six-port0-${first}.yaml`);
  writeFileSync(
    file,
    [
      `name: p4six-port0-${first}`,
      "routing: static",
      "devices:",
      "  - { name: h1, kind: host }",
      "  - name: s1",
      "    kind: p4-switch",
      `    program: ${program}`,
      ...(cli.length ? ["    cli:", ...cli.map((c) => `      - ${JSON.stringify(c)}`)] : []),
      "  - { name: h2, kind: host }",
      "links:",
      links[first],
      links[first === "h1" ? "h2" : "h1"],
      "",
    ].join("\n"),
  );
  const y = loadTopologyYaml(file);
  return formatPlan(planTopology(y.spec, { store: new StateStore(join(dir, "state")) }).plan);
}

/** BMv2's commands.txt for simple_router with this lab's ports (0 and 1) and kinda's fixed MACs. */
const CLI = [
  "table_set_default send_frame _drop",
  "table_set_default forward _drop",
  "table_set_default ipv4_lpm _drop",
  "table_add send_frame rewrite_mac 0 => 02:6b:00:00:00:02",
  "table_add send_frame rewrite_mac 1 => 02:6b:00:01:00:01",
  "table_add ipv4_lpm set_nhop 10.0.11.1/32 => 10.0.11.1 0",
  "table_add ipv4_lpm set_nhop 10.0.12.1/32 => 10.0.12.1 1",
];

const warnings = (text: string) => text.split("\n").filter((l) => /^warning: /.test(l));

describe("a P4 program that can leave egress_spec unset: the plan warns that BMv2 sends those frames out of port 0", () => {
  if (!existsSync(PROGRAM)) {
    if (["true", "1"].includes(process.env["CI"] ?? "")) it("needs the programs (CI=true)", () => assert.fail(MISSING));
    else it("did not run", { skip: MISSING }, () => undefined);
    return;
  }

  it("simple_router with its commands: frames that are not IPv4 meet no table; the warning names port 0 as the first link's interface", () => {
    const text = plan(PROGRAM, CLI, "h1");
    const w = warnings(text).filter((l) => /port 0/.test(l));
    assert.equal(w.length, 1, `no warning about port 0 in the plan:\n${text}`);
    assert.match(
      w[0]!,
      /^warning: P4 switch s1: the program can leave egress_spec unset \(the ingress where _condition_0 is false\); BMv2 then sends the frame out of port 0, which is eth0 \(its first link\)$/,
    );
    // and the plan's command line agrees: port 0 is that interface
    assert.match(text, /simple_switch --device-id 0 -i 0@eth0 -i 1@eth1 /);
  });

  it("without its defaults, the misses are named too (each table whose miss sets no egress)", () => {
    const w = warnings(plan(PROGRAM, [], "h1")).filter((l) => /port 0/.test(l));
    assert.ok(
      w.some((l) => /table forward on a miss/.test(l)),
      w.join("\n"),
    );
  });

  it("port 0 follows the order of the links, not the hosts: with h2's link first, eth0 is h2's", () => {
    const text = plan(PROGRAM, CLI, "h2");
    assert.match(text, /warning: P4 switch s1: .* out of port 0, which is eth0 \(its first link\)/);
    // s1's eth0 is on the collision domain of the link listed first, with h2's eth0
    const domain = new Map<string, string>();
    for (const m of text.matchAll(/link add (v-\d+-\d+) master (cd-\d+) [^\n]*\n[^\n]*dev \1 altname (\S+)/g)) domain.set(m[3]!, m[2]!);
    assert.ok(domain.get("s1.eth0") !== undefined, text);
    assert.equal(domain.get("s1.eth0"), domain.get("h2.eth0"), "port 0 (eth0) is h2's link");
    assert.notEqual(domain.get("s1.eth0"), domain.get("h1.eth0"));
  });
});
