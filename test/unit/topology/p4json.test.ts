/**
 * The compiled-program reader (core/p4json.ts) on real compiler output: the BMv2 JSON that
 * p4c wrote for BMv2's own repository (and the CLI input of simple_router), which is not the
 * project's and is never copied in: read from KINDA_P4_PROGRAMS_DIR (default
 * ../shared/p4-programs beside the repository). Without them the suite says in one line that it
 * did not run; under CI=true that is a failure. Also: a topology whose cli a program would refuse
 * is refused at the line of that entry, before anything is created.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { checkCliLine, egressUnset, readP4Program, type P4Program } from "../../../src/core/p4json.js";
import { loadTopologyYaml } from "../../../src/topology/yaml.js";
import { compile } from "../../support/compile.js";
import { ROOT } from "../../support/env.js";

const DIR = resolve(process.env["KINDA_P4_PROGRAMS_DIR"] ?? join(ROOT, "..", "shared", "p4-programs"));
const present = existsSync(join(DIR, "targets_simple_router_simple_router.json"));
const MISSING =
  `the P4 program checks on p4c's output did not run: no programs at ${DIR}; ` +
  "to run them: KINDA_P4_PROGRAMS_DIR=/path/to/p4-programs npm run -s test:unit";

const load = (f: string): P4Program => readP4Program(JSON.parse(readFileSync(join(DIR, f), "utf8")));
const problem = (p: P4Program, line: string) => checkCliLine(p, line).problem;

if (!present) {
  describe("P4 programs compiled by p4c", () => {
    if (["true", "1"].includes(process.env["CI"] ?? "")) it("needs the programs (CI=true)", () => assert.fail(MISSING));
    else it("did not run", { skip: MISSING }, () => undefined);
  });
} else {
  describe("P4 programs compiled by p4c (BMv2's own test programs)", () => {
    it("every program reads: its tables have keys with kinds and widths, its actions their parameters", () => {
      const files = readdirSync(DIR).filter((f) => f.endsWith(".json"));
      assert.ok(files.length >= 5, `programs in ${DIR}: ${files.join(", ")}`);
      for (const f of files) {
        const p = load(f);
        assert.ok(p.tables.size > 0, `${f}: tables`);
        for (const t of p.tables.values()) {
          assert.ok(
            t.key.every((k) => k.width > 0 && k.kind),
            `${f}: ${t.name}'s key ${JSON.stringify(t.key)}`,
          );
          assert.ok(
            t.actions.every((a) => p.actions.has(a)),
            `${f}: ${t.name}'s actions`,
          );
        }
      }
      const r = load("targets_simple_router_simple_router.json");
      assert.deepEqual(r.tables.get("ipv4_lpm")!.key, [{ name: "ipv4.dstAddr", kind: "lpm", width: 32 }]);
      assert.deepEqual(r.tables.get("send_frame")!.key, [{ name: "standard_metadata.egress_port", kind: "exact", width: 9 }]);
      assert.deepEqual(r.actions.get("set_nhop")!.params, [
        { name: "nhop_ipv4", width: 32 },
        { name: "port", width: 9 },
      ]);
    });

    it("simple_router's own commands.txt passes every check", () => {
      const p = load("targets_simple_router_simple_router.json");
      const lines = readFileSync(join(DIR, "targets_simple_router_commands.txt"), "utf8").split("\n").filter(Boolean);
      assert.ok(lines.length >= 9);
      for (const l of lines) assert.equal(problem(p, l), undefined, l);
    });

    it("a wrong table, action, parameter count, key width or prefix is refused, saying what the program has", () => {
      const p = load("targets_simple_router_simple_router.json");
      const cases: [string, RegExp][] = [
        [
          "tabel_add ipv4_lpm set_nhop 10.0.0.10/32 => 10.0.0.10 1",
          /no command tabel_add: it would answer "\*\*\* Unknown syntax: tabel_add/,
        ],
        ["table_add ipv4_lmp set_nhop 10.0.0.10/32 => 10.0.0.10 1", /no table ipv4_lmp \(tables: ipv4_lpm, forward, send_frame\)/],
        [
          "table_add ipv4_lpm set_dmac 10.0.0.10/32 => 00:04:00:00:00:00",
          /table ipv4_lpm has no action set_dmac \(its actions: set_nhop, _drop\)/,
        ],
        [
          "table_add ipv4_lpm set_nhop 10.0.0.10/32 => 10.0.0.10",
          /action set_nhop takes 2 parameters \(nhop_ipv4: 32 bits, port: 9 bits\), not 1/,
        ],
        ["table_add ipv4_lpm set_nhop 10.0.0.10/32 => 10.0.0.10 512", /parameter port \(9 bits\): 512 does not fit the field's 9 bits/],
        ["table_add ipv4_lpm set_nhop 10.0.0.10/33 => 10.0.0.10 1", /key ipv4\.dstAddr \(lpm, 32 bits\): prefix length 33 is not 0-32/],
        ["table_add ipv4_lpm set_nhop 10.0.0.10 => 10.0.0.10 1", /is not VALUE\/PREFIX_LENGTH/],
        ["table_add forward set_dmac 10.0.0.10 10.0.0.11 => 00:04:00:00:00:00", /table forward takes 1 key field .*, not 2/],
        ["table_add forward set_dmac 10.0.0.300 => 00:04:00:00:00:00", /10\.0\.0\.300 is not an IPv4 address/],
        ["table_add send_frame rewrite_mac 1 => 00:aa:bb:00:00", /00:aa:bb:00:00 is not a MAC address/],
        ["table_set_default forward set_dmac", /action set_dmac takes 1 parameter/],
      ];
      for (const [line, re] of cases) assert.match(problem(p, line) ?? "(accepted)", re, line);
      // suffixes are names too, as in the CLI (MyIngress.ipv4_lpm as ipv4_lpm), when only one object has them
      const m = load("targets_simple_switch_grpc_tests_testdata_meter.json");
      assert.equal(problem(m, "table_add t_redirect port_redirect 1 =>"), undefined);
      assert.equal(problem(m, "table_add ingress.t_redirect ingress.port_redirect 1 =>"), undefined);
    });

    it("ternary tables need a priority; indirect tables take members of their action profile", () => {
      const t = load("targets_simple_switch_grpc_tests_testdata_ternary.json");
      assert.match(problem(t, "table_add ter send_1 0x1&&&0xff =>") ?? "", /ingress\.ter is ternary: the entry needs a priority/);
      assert.equal(problem(t, "table_add ter send_1 0x1&&&0xff => 10"), undefined);
      assert.match(problem(t, "table_add ter send_1 0x1 => 10") ?? "", /is not VALUE&&&MASK/);
      const ap = load("targets_simple_switch_grpc_tests_testdata_action_profile.json");
      assert.match(problem(ap, "table_add IndirectWS send 1 => 2") ?? "", /through action profile ActProfWS: use table_indirect_add/);
      assert.equal(problem(ap, "act_prof_create_member ActProfWS send 2"), undefined);
      assert.match(problem(ap, "act_prof_create_member ActProfWS send") ?? "", /takes 1 parameter/);
      assert.equal(problem(ap, "act_prof_create_group ActProfWS"), undefined);
      assert.equal(problem(ap, "table_indirect_add IndirectWS 7 => 0"), undefined);
      assert.match(problem(ap, "table_indirect_add IndirectWS 300 => 0") ?? "", /does not fit the field's 8 bits/);
    });

    it("counters and meters as the program declares them", () => {
      const c = load("targets_simple_switch_grpc_tests_testdata_counter.json");
      assert.equal(problem(c, "counter_read cntr 0"), undefined);
      assert.match(problem(c, "counter_read nope 0") ?? "", /no counter nope \(counters: cntr\)/);
      const m = load("targets_simple_switch_grpc_tests_testdata_meter.json");
      assert.equal(problem(m, "meter_set_rates mtr 0 0.0001:1 0.0005:1"), undefined);
      assert.match(problem(m, "meter_set_rates mtr 0 0.0001:1") ?? "", /takes 2 rates as RATE:BURST/);
      assert.match(problem(m, "meter_array_set_rates nope 1:1 1:1") ?? "", /no meter nope/);
    });

    it("egress left unset (BMv2 then sends out of port 0): found on the paths the entries and defaults take", () => {
      const p = load("targets_simple_router_simple_router.json");
      // without its commands: forward has no default action, and non-IPv4 frames meet no table
      const bare = egressUnset(p, []);
      assert.ok(
        bare.some((w) => /table forward on a miss/.test(w)),
        bare.join("; "),
      );
      assert.ok(
        bare.some((w) => /_condition_0 is false/.test(w)),
        bare.join("; "),
      );
      // with commands.txt the misses drop; what is left is real: non-IPv4 frames (ARP) go out of port 0
      const uses = readFileSync(join(DIR, "targets_simple_router_commands.txt"), "utf8")
        .split("\n")
        .filter(Boolean)
        .flatMap((l) => checkCliLine(p, l).use ?? []);
      assert.deepEqual(egressUnset(p, uses), ["the ingress where _condition_0 is false"]);
      // a NoAction default leaves it unset
      const c = load("targets_simple_switch_grpc_tests_testdata_counter.json");
      assert.deepEqual(egressUnset(c, []), ["table t_redirect, action NoAction (its default)"]);
    });

    it("a topology whose cli the program refuses: refused at that entry's line, before anything is made", () => {
      const dir = mkdtempSync(join(tmpdir(), "kinda-p4json-"));
      const file = join(dir, "t.yaml");
      const program = join(DIR, "targets_simple_router_simple_router.json");
      writeFileSync(
        file,
        [
          "name: t",
          "devices:",
          "  - name: s",
          "    kind: p4-switch",
          `    program: ${program}`,
          "    cli:",
          "      - table_set_default ipv4_lpm _drop",
          "      - tabel_add ipv4_lpm set_nhop 10.0.0.10/32 => 10.0.0.10 1",
          "      - table_add ipv4_lpm set_nhop 10.0.0.10/32 => 10.0.0.10",
          "  - { name: h, kind: host }",
          "links:",
          "  - { endpoints: [s, h] }",
          "",
        ].join("\n"),
      );
      const y = loadTopologyYaml(file);
      assert.throws(
        () => compile(y.spec, y.where),
        (e: Error) =>
          new RegExp(`${file}:8:\\d+: P4 switch s: simple_switch_CLI has no command tabel_add`).test(e.message) &&
          new RegExp(`${file}:9:\\d+: P4 switch s: action set_nhop takes 2 parameters`).test(e.message),
      );
    });
  });
}
