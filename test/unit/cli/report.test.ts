/** What the CLI says of an error: a lost Docker engine is a clear error, not an unexpected one. */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { report } from "../../../src/cli/report.js";

let said = "";
const write = process.stderr.write.bind(process.stderr);
const host = process.env["DOCKER_HOST"];
beforeEach(() => {
  said = "";
  process.stderr.write = ((c: string) => ((said += c), true)) as typeof process.stderr.write;
});
afterEach(() => {
  process.stderr.write = write;
  if (host === undefined) delete process.env["DOCKER_HOST"];
  else process.env["DOCKER_HOST"] = host;
});

function connectError(code: string, address: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`connect ${code} ${address}`), { code, syscall: "connect", address });
}

describe("report", () => {
  it("a refused or missing engine socket (the engine stopped or restarting) says so, with the way on", () => {
    process.env["DOCKER_HOST"] = "unix:///tmp/x/docker.sock";
    assert.equal(report(connectError("ENOENT", "/tmp/x/docker.sock")), 1);
    assert.match(said, /^kinda: error: cannot reach the Docker engine at \/tmp\/x\/docker\.sock \(ENOENT: connect ENOENT/);
    assert.match(said, /hint: once the engine answers again \(docker info\).*kinda down NAME/);
    assert.doesNotMatch(said, /unexpected/);
  });

  it("a request cut off (socket hang up) says the engine or an API server went away", () => {
    delete process.env["DOCKER_HOST"];
    report(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }));
    assert.match(said, /^kinda: error: a connection was cut off \(ECONNRESET: socket hang up\): the Docker engine/);
  });

  it("a container whose root filesystem the engine left mounted is said as such, with the way out", () => {
    const path = "/var/lib/docker/overlay2/bf5f58a66fcd/merged";
    const msg =
      '(HTTP code 500) server error - container d8894b94085a: driver "overlay2" failed to remove root filesystem: ' +
      `unlinkat ${path}: device or resource busy `;
    assert.equal(report(new Error(msg)), 1);
    assert.match(
      said,
      /^kinda: error: the Docker engine cannot remove a container: its root filesystem \/var\/lib\/docker\/overlay2\/bf5f58a66fcd\/merged is still mounted/,
    );
    assert.match(
      said,
      /hint: .*stop the engine, `umount \/var\/lib\/docker\/overlay2\/bf5f58a66fcd\/merged`, start the engine again, then run kinda down NAME/,
    );
    assert.doesNotMatch(said, /unexpected|please report/);
  });

  it("another socket's ENOENT stays an unexpected error", () => {
    delete process.env["DOCKER_HOST"];
    report(connectError("ENOENT", "/run/other.sock"));
    assert.match(said, /^kinda: unexpected error: ENOENT: connect ENOENT \/run\/other\.sock/);
  });
});
