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
