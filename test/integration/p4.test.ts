/**
 * A P4 switch on the path between two Kubernetes nodes (examples/p4.yaml, fixture nodes).
 *
 * By default the image is the STAND-IN kinda-test/p4-standin (scripts/test-env/p4-standin/): no
 * BMv2 can be had on this machine, so its simple_switch_grpc records what kinda passes and joins
 * the ports with tc mirred (a hub) until its CLI stand-in gets IPv4 LPM entries, which its
 * lpm_forward then forwards by (the example program's forwarding, by hand, not a P4 program), and
 * its p4c writes BMv2-shaped JSON. What this proves there:
 * the command line, port order, mounts, published ports, readiness wait, CLI entries, logs, and
 * that pod traffic crosses the switch's ports. With a real image,
 *   KINDA_P4_IMAGE=kathara/p4 npm run test:p4
 * runs the same test with BMv2 and the real program (compiled by the image's p4c), whose LPM
 * table entries then do the forwarding.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { up as upTopology } from "../../src/app/up.js";
import { loadTopologyYaml } from "../../src/topology/yaml.js";
import { IMAGE_MAP, P4_IMAGE, ROOT } from "../support/env.js";
import { FixtureProvider } from "../support/fixture.js";
import { assertNothingLeft, kinda, kindaOk } from "../support/kinda.js";
import { STANDIN, beforeP4Tests, p4Env, counter as portCounter } from "../support/p4.js";

beforeP4Tests();

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((res) => {
    const c = connect({ port, host: "127.0.0.1" }, () => {
      c.end();
      res(true);
    });
    c.on("error", () => res(false));
  });
}

function loadExample(grpcPort: number) {
  const y = loadTopologyYaml(join(ROOT, "examples", "p4.yaml"));
  const p4 = y.spec.devices.find((d) => d.name === "p4")!;
  p4.program = join(p4Env.build, "ipv4_lpm.json");
  p4.p4info = join(p4Env.build, "ipv4_lpm.p4info.txt");
  p4.grpcPort = grpcPort;
  return y;
}

const counter = (lab: string, ifname: string, what: "rx_packets" | "tx_packets") => portCounter(lab, "p4", ifname, what);

describe(`a P4 switch on the path between two Kubernetes nodes (image ${P4_IMAGE}${STANDIN ? ": a stand-in, not BMv2" : ""})`, () => {
  it("runs the switch as planned; pod traffic crosses its ports; status, logs and published ports work", async (t) => {
    const provider = new FixtureProvider("kfxp4");
    const grpcPort = await freePort();
    const y = loadExample(grpcPort);
    const lab = y.spec.name;
    if (!p4Env.grpc) {
      // a BMv2 built without gRPC (the one built by hand here): grpcPort is refused at once, saying
      // so; the rest then runs with simple_switch (P4Runtime's published port cannot be shown)
      const t0 = Date.now();
      await assert.rejects(upTopology(y.spec, { provider, imageMap: IMAGE_MAP, where: y.where }), (e: Error) => {
        assert.match(
          e.message,
          /device p4 \[program\]: start the switch failed.*this image has no simple_switch_grpc: grpcPort asks for BMv2 built with P4Runtime/s,
        );
        return true;
      });
      assert.ok(Date.now() - t0 < 55_000, `refused before the 60 s readiness wait (${Date.now() - t0} ms)`);
      await provider.delete();
      await assertNothingLeft(lab, p4Env.linksBefore);
      t.diagnostic(`${P4_IMAGE} has no simple_switch_grpc: refused as it should be; the rest runs with simple_switch, without grpcPort`);
      delete y.spec.devices.find((d) => d.name === "p4")!.grpcPort;
    }
    const h = await upTopology(y.spec, { provider, imageMap: IMAGE_MAP, where: y.where });
    try {
      const ps = await kindaOk("exec", "--lab", lab, "p4", "--", "ps", "-eo", "args");
      assert.match(
        ps,
        p4Env.grpc
          ? /simple_switch_grpc --device-id 0 -i 0@eth0 -i 1@eth1 --thrift-port 9090 --log-console --log-level info \/kinda-p4\/program\.json -- --grpc-server-addr 0\.0\.0\.0:9559/
          : /simple_switch --device-id 0 -i 0@eth0 -i 1@eth1 --thrift-port 9090 --log-console --log-level info \/kinda-p4\/program\.json$/m,
      );
      const mounted = await kindaOk("exec", "--lab", lab, "p4", "--", "cat", "/kinda-p4/program.json");
      assert.equal(mounted, readFileSync(join(p4Env.build, "ipv4_lpm.json"), "utf8"), "the program is the user's file");
      const entries = y.spec.devices.find((d) => d.name === "p4")!.cli!;
      if (STANDIN) {
        const cli = await kindaOk("exec", "--lab", lab, "p4", "--", "cat", "/var/log/kinda-p4-standin/cli");
        assert.deepEqual(cli.trim().split("\n"), entries, "the CLI got the topology's entries, in order");
      } else {
        const n = await kindaOk(
          "exec",
          "--lab",
          lab,
          "p4",
          "--",
          "sh",
          "-c",
          "echo table_num_entries MyIngress.ipv4_lpm | simple_switch_CLI",
        );
        assert.match(n, new RegExp(`\\b${entries.length}\\b`));
      }

      const rx0 = await counter(lab, "eth0", "rx_packets");
      const tx1 = await counter(lab, "eth1", "tx_packets");
      const r = provider.inPod("w1", 0, ["ping", "-c", "50", "-i", "0.01", "-W", "2", provider.podIp("c1", 0)]);
      assert.equal(r.code, 0, r.out);
      assert.ok((await counter(lab, "eth0", "rx_packets")) - rx0 >= 50, "the pod's packets came in on port 0");
      assert.ok((await counter(lab, "eth1", "tx_packets")) - tx1 >= 50, "and went out on port 1");

      const st = await kindaOk("status", lab);
      if (p4Env.grpc) {
        assert.match(st, new RegExp(`grpc 0\\.0\\.0\\.0:${grpcPort}`), st);
        assert.ok(await tcpAnswers(grpcPort), "P4Runtime's port answers on the host");
      }
      assert.match(st, /thrift 0\.0\.0\.0:\d+/);
      const logs = await kindaOk("logs", lab, "p4");
      assert.ok(logs.trim().length > 0, "kinda logs shows the switch's output");
    } finally {
      await h.down();
      await provider.delete();
    }
    await assertNothingLeft(lab, p4Env.linksBefore);
  });

  it("a gRPC port already taken on the host: the error names the device and field; nothing is created", async () => {
    const port = await freePort();
    const holder: Server = await new Promise((res) => {
      const s = createServer().listen(port, "0.0.0.0", () => res(s));
    });
    try {
      const y = loadExample(port);
      await assert.rejects(
        upTopology(y.spec, { provider: new FixtureProvider("kfxp4b"), imageMap: IMAGE_MAP, where: y.where }),
        (e: Error) => {
          assert.match(e.message, new RegExp(`device p4.*grpcPort.*${port}/tcp is already in use`, "s"));
          return true;
        },
      );
    } finally {
      holder.close();
    }
    await assertNothingLeft("p4-path", p4Env.linksBefore);
    assert.notEqual((await kinda("status", "p4-path")).code, 0);
  });
});
