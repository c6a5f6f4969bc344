import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../../support/env.js";
import { pathWith } from "../../support/path.js";
import {
  HOST_PROGRAMS,
  MissingProgramsError,
  findProgram,
  kindProgram,
  missingPrograms,
  programsFor,
  requirePrograms,
} from "../../../src/core/host.js";

describe("host programs", () => {
  it("every program has a Debian package and a purpose; each name once", () => {
    for (const p of HOST_PROGRAMS) assert.ok(p.debianPackage && p.purpose && p.needFor.length, p.name);
    assert.equal(new Set(HOST_PROGRAMS.map((p) => p.name)).size, HOST_PROGRAMS.length);
  });

  it("a lab needs ip and sysctl; nodes add the rest (ethtool, conntrack, ...); Kind adds kind and docker", () => {
    assert.deepEqual(
      programsFor(["lab"]).map((p) => p.name),
      ["ip", "sysctl"],
    );
    const cluster = programsFor(["lab", "cluster"]).map((p) => p.name);
    for (const n of ["ip", "nsenter", "bridge", "tc", "ss", "ethtool", "iptables", "iptables-restore", "iptables-save", "conntrack"])
      assert.ok(cluster.includes(n), n);
    assert.ok(!cluster.includes("docker"));
    assert.deepEqual(
      programsFor(["cluster", "kind"], [kindProgram("kind")])
        .map((p) => p.name)
        .filter((n) => n === "kind" || n === "docker"),
      ["docker", "kind"],
    );
  });

  it("finds programs as spawn does: executable files on PATH, or a path", () => {
    const dir = pathWith(["ip"]);
    assert.equal(findProgram("ip", dir), join(dir, "ip"));
    assert.equal(findProgram("plain", dir), undefined, "not executable");
    assert.equal(findProgram("ethtool", dir), undefined);
    assert.equal(findProgram(join(dir, "ip")), join(dir, "ip"));
  });

  it("names every missing program with its package in one error, and what to install", () => {
    const all = programsFor(["lab", "cluster", "kind"], [kindProgram("kind")]).map((p) => p.name);
    const path = pathWith(all.filter((n) => n !== "ethtool" && n !== "conntrack" && n !== "kind"));
    assert.deepEqual(
      missingPrograms(programsFor(["lab", "cluster"]), path).map((p) => p.name),
      ["ethtool", "conntrack"],
    );
    assert.doesNotThrow(() => requirePrograms(["lab"], [], path));
    assert.throws(
      () => requirePrograms(["lab", "cluster"], [kindProgram("kind")], path),
      (e: unknown) => {
        assert.ok(e instanceof MissingProgramsError);
        assert.match(e.message, /nothing was created/);
        assert.match(e.message, /ethtool \(Debian package ethtool\): checksum offload/);
        assert.match(e.message, /conntrack \(Debian package conntrack\)/);
        assert.match(e.message, /kind \(Debian package none/);
        assert.match(e.hint ?? "", /^apt-get install ethtool conntrack; kind: go install sigs\.k8s\.io\/kind/);
        return true;
      },
    );
  });
});

describe("the test set-up", () => {
  it("installs every host program kinda runs, from the package kinda names", () => {
    const text = readFileSync(join(ROOT, "scripts", "test-env", "setup.sh"), "utf8");
    const pairs = /for pair in ([^;]+); do/.exec(text.replace(/\\\n/g, " "))![1]!.trim().split(/\s+/);
    const installs = new Map(pairs.map((p) => p.split(":") as [string, string]));
    for (const p of HOST_PROGRAMS.filter((x) => x.name !== "docker")) assert.equal(installs.get(p.name), p.debianPackage, p.name);
    assert.match(text, /need\+=\(docker\.io\)/, "docker (Kind runs the CLI) comes with docker.io");
  });
});
