import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatDoctor, type DoctorReport } from "../../../src/app/doctor.js";

describe("kinda doctor's text", () => {
  it("marks each check, says what kinda does without a missing part, and how to install missing programs", () => {
    const r: DoctorReport = {
      ok: false,
      checks: [
        { group: "docker", name: "engine", status: "ok", detail: "Docker 20.10 (API 1.41)" },
        { group: "program", name: "ethtool", status: "fail", detail: "missing", without: "checksum offload", debianPackage: "ethtool" },
        { group: "kernel", name: "gre", status: "warn", detail: "absent", without: "encapsulation gre fails" },
      ],
    };
    const text = formatDoctor(r);
    assert.match(text, /^docker +ok +engine +Docker 20\.10/m);
    assert.match(text, /^program +FAIL +ethtool +missing\n +without it: checksum offload/m);
    assert.match(text, /^kernel +WARN +gre +absent\n +without it: encapsulation gre fails/m);
    assert.match(text, /missing host programs: apt-get install ethtool/);
    assert.match(text, /kinda cannot run everything here/);
  });
});

describe("doctor --fix", () => {
  it("raises only the inotify limits below what Kind needs, never lowers one", async () => {
    const { sysctlFixes } = await import("../../../src/app/doctor.js");
    const now: Record<string, number | undefined> = { "fs.inotify.max_user_instances": 128, "fs.inotify.max_user_watches": 1048576 };
    assert.deepEqual(
      sysctlFixes((n) => now[n]),
      [{ name: "fs.inotify.max_user_instances", from: 128, to: 8192 }],
    );
    assert.deepEqual(
      sysctlFixes(() => undefined).map((f) => f.to),
      [8192, 524288],
      "unknown: set",
    );
  });

  it("says each before writing it", async () => {
    const { fixSysctls } = await import("../../../src/app/doctor.js");
    const events: string[] = [];
    fixSysctls(
      (l) => events.push(`say ${l}`),
      (p, v) => events.push(`write ${p} ${v.trim()}`),
    );
    for (let i = 0; i < events.length; i += 2) {
      assert.match(events[i]!, /^say setting fs\.inotify\./);
      assert.match(events[i + 1]!, /^write \/proc\/sys\/fs\/inotify\//);
    }
  });
});

describe("doctor's room for Kind nodes", () => {
  it("counts the nodes the available memory and the inotify limit hold, warning below four", async () => {
    const { kindRoom } = await import("../../../src/app/doctor.js");
    const [mem, inotify, threads, cpu, all] = kindRoom({
      memAvailableMiB: 16 * 1024,
      inotifyInstances: 512,
      cores: 2,
      threadsMax: 100_000,
    });
    assert.match(mem!.detail, /^about 75 Kind nodes \(16\.0 GiB available/);
    assert.equal(mem!.status, "ok");
    assert.match(inotify!.detail, /^about 36 Kind nodes \(fs\.inotify\.max_user_instances 512/);
    assert.match(threads!.detail, /^about 740 Kind nodes/);
    assert.match(cpu!.detail, /^about 21 Kind nodes \(2 cores/);
    // the least of them, and which it is
    assert.equal(all!.name, "room: this machine");
    assert.equal(all!.detail, "about 21 Kind nodes (limited by CPU)");
    const low = kindRoom({ memAvailableMiB: 1024, inotifyInstances: 128, cores: 8, threadsMax: 100_000, threadsInUse: 99_000 });
    assert.deepEqual(
      low.map((c) => [c.detail.split(" (")[0], c.status]),
      [
        ["about 2 Kind nodes", "warn"],
        ["about 9 Kind nodes", "ok"],
        ["about 7 Kind nodes", "ok"],
        ["about 84 Kind nodes", "ok"],
        ["about 2 Kind nodes", "warn"],
      ],
    );
    assert.match(low[4]!.detail, /limited by memory/);
    assert.deepEqual(
      kindRoom({ memAvailableMiB: undefined, inotifyInstances: undefined, cores: undefined, threadsMax: undefined }).map((c) => c.status),
      ["warn", "warn", "warn", "warn", "warn"],
    );
  });
});

describe("doctor's check of the engine's default bridge", () => {
  it("fails with the fix when docker0 is gone from the host, and is ok or skipped otherwise", async () => {
    const { defaultBridgeCheck } = await import("../../../src/app/doctor.js");
    const gone = defaultBridgeCheck("docker0", () => false);
    assert.equal(gone.status, "fail");
    assert.match(gone.detail, /docker0 is missing/);
    assert.match(gone.detail, /could not find bridge docker0/);
    assert.match(gone.detail, /restart the Docker engine/);
    const seen: string[] = [];
    assert.equal(defaultBridgeCheck("br-custom", (n) => (seen.push(n), true)).status, "ok");
    assert.deepEqual(seen, ["br-custom"]);
    assert.equal(defaultBridgeCheck(undefined, () => false).status, "skipped");
  });
});
