/**
 * kinda ui / kinda metrics without a lab: the pure parts (which counters belong to which edge of the
 * picture, --listen, the link actions the page may send) and the server's checks (token, host
 * header, loopback, metrics text) against an observer that returns fixed samples.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { describe, it } from "node:test";
import type { LinkCounters } from "../../../src/engine/watch.js";
import type { LabObserver, Snapshot } from "../../../src/app/observe.js";
import { edgeViews, parseAction, parseListen, serve } from "../../../src/app/ui/server.js";
import type { LabState } from "../../../src/state/store.js";

const row = (endpoint: string, link: string, extra: Partial<LinkCounters> = {}): LinkCounters => ({
  endpoint,
  link,
  txPackets: 1,
  txBytes: 100,
  rxPackets: 2,
  rxBytes: 200,
  drops: 0,
  cut: false,
  ...extra,
});

describe("ui: edges and counters", () => {
  it("a two-member domain's edge takes its ends' rows; a node's edge its own row; a segment's edge acts on the device interface", () => {
    const g = {
      title: "t",
      nodes: [],
      edges: [
        { a: "r1", b: "r2", labelA: "eth1", labelB: "eth0" },
        { a: "r2", b: "w1", labelB: "10.0.0.2/24" },
        { a: "[lan]", b: "h1", labelB: "eth0" },
      ],
    };
    const links = [
      row("r1:eth1", "domain core", { txBps: 5e6, rxBps: 1e3 }),
      row("r2:eth0", "domain core", { txBps: 1e3, rxBps: 5e6, cut: true }),
      row("w1:eth1", "r2:eth2", { txBps: 7, rxBps: 8, drops: 3, shaped: "both: rate 10mbit" }),
      row("h1:eth0", "domain lan", { txBps: 0, rxBps: 0 }),
    ];
    const v = edgeViews(g, links);
    assert.deepEqual(
      v.map((e) => [e.endpoint, e.cut, e.txBps, e.rxBps, e.drops, e.shaped]),
      [
        ["r1--r2", true, 5e6, 5e6, 0, undefined],
        ["r2--w1", false, 7, 8, 3, "both: rate 10mbit"],
        ["h1:eth0", false, 0, 0, 0, undefined],
      ],
    );
  });

  it("--listen: loopback by default, HOST:PORT, [v6]:PORT and PORT; anything else refused", () => {
    assert.deepEqual(parseListen(undefined), { host: "127.0.0.1", port: 0 });
    assert.deepEqual(parseListen("127.0.0.1:9464"), { host: "127.0.0.1", port: 9464 });
    assert.deepEqual(parseListen("[::1]:80"), { host: "::1", port: 80 });
    assert.deepEqual(parseListen("9000"), { host: "127.0.0.1", port: 9000 });
    assert.throws(() => parseListen("example.org:80"), /not an IP address/);
    assert.throws(() => parseListen("1.2.3.4:99999"), /out of range/);
  });

  it("link actions: only down, up, clear and shape with tc values", () => {
    assert.deepEqual(parseAction({ endpoint: "r1--r2", action: "down" }), { endpoint: "r1--r2", change: { action: "down" } });
    assert.deepEqual(parseAction({ endpoint: "r1:eth0", action: "shape", rate: "10mbit", latency: "" }), {
      endpoint: "r1:eth0",
      change: { action: "shape", rate: "10mbit" },
    });
    assert.throws(() => parseAction({ endpoint: "r1--r2", action: "shape", rate: "10mbit; reboot" }), /rate: expected a tc value/);
    assert.throws(() => parseAction({ endpoint: "r1 r2", action: "down" }), /endpoint/);
    assert.throws(() => parseAction({ endpoint: "r1--r2", action: "rm" }), /action/);
    assert.throws(() => parseAction({ endpoint: "r1--r2", action: "shape" }), /rate: required/);
  });
});

describe("ui: the server", () => {
  let n = 0;
  const observer = {
    lab: "t",
    state: () => ({ name: "t", devices: [], domains: [], netns: "kinda-t" }) as unknown as LabState,
    sample: async (): Promise<Snapshot> => ({
      lab: "t",
      at: Date.now(),
      links: [row("r1:eth0", "domain lan", { txBytes: 100 * ++n, cut: true, shaped: "both: rate 1mbit" })],
      devices: [{ name: "r1", kind: "router", up: true }],
      nodes: [{ name: "w1", k8sName: "k-worker", role: "worker", up: true, ready: false, pods: 4 }],
      problems: [],
    }),
  } as unknown as LabObserver;

  it("refuses requests without the token, with another host name, and a non-loopback address unless allowed", async () => {
    const changes: string[] = [];
    const s = await serve(observer, { changeLink: async (e, c) => void changes.push(`${e} ${c.action}`), interval: 60 });
    try {
      const base = `http://127.0.0.1:${s.port}`;
      assert.equal((await fetch(`${base}/api/state`)).status, 401);
      assert.equal((await fetch(`${base}/api/state?token=wrong`)).status, 401);
      // DNS rebinding: a page of another name that resolves to 127.0.0.1 (fetch cannot set Host; node:http can)
      const rebound = await new Promise<number>((resolve, reject) =>
        request(
          { host: "127.0.0.1", port: s.port, path: "/api/state", headers: { "x-kinda-token": s.token, host: "evil.example" } },
          (r) => {
            r.resume();
            resolve(r.statusCode ?? 0);
          },
        )
          .on("error", reject)
          .end(),
      );
      assert.equal(rebound, 403);
      assert.equal((await fetch(`${base}/api/state`, { headers: { "x-kinda-token": s.token } })).status, 200);
      assert.equal((await fetch(`${base}/?token=${s.token}`)).status, 200);
      // a change needs the token as a header and JSON (no form post from another page)
      assert.equal((await fetch(`${base}/api/link?token=${s.token}`, { method: "POST", body: "{}" })).status, 401);
      const post = (body: unknown) =>
        fetch(`${base}/api/link`, {
          method: "POST",
          headers: { "x-kinda-token": s.token, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      assert.equal((await post({ endpoint: "r1--r2", action: "down" })).status, 200);
      assert.equal((await post({ endpoint: "r1--r2", action: "bogus" })).status, 400);
      assert.deepEqual(changes, ["r1--r2 down"]);
    } finally {
      await s.close();
    }
    await assert.rejects(serve(observer, { listen: "0.0.0.0:0" }), /not a loopback address/);
  });

  it("metrics: Prometheus text with the sample's values, labelled by lab, device, interface, link", async () => {
    const s = await serve(observer, { page: false });
    try {
      const r = await fetch(`http://127.0.0.1:${s.port}/metrics`, { headers: { authorization: `Bearer ${s.token}` } });
      assert.equal(r.status, 200);
      const text = await r.text();
      const first = /kinda_interface_transmit_bytes_total\{lab="t",device="r1",interface="eth0",link="domain lan"\} (\d+)/.exec(text);
      assert.ok(first, text);
      assert.match(text, /kinda_link_up\{lab="t",device="r1",interface="eth0",link="domain lan"\} 0/);
      assert.match(text, /kinda_link_shaped\{[^}]*shaping="both: rate 1mbit"\} 1/);
      assert.match(text, /kinda_device_up\{lab="t",device="r1",kind="router"\} 1/);
      assert.match(text, /kinda_node_ready\{lab="t",node="w1",k8s_node="k-worker"\} 0/);
      assert.match(text, /kinda_node_pods\{lab="t",node="w1",k8s_node="k-worker"\} 4/);
      assert.match(text, /# TYPE kinda_interface_transmit_bytes_total counter/);
      // the next scrape samples again: the counter moved
      const again = await (await fetch(`http://127.0.0.1:${s.port}/metrics`, { headers: { authorization: `Bearer ${s.token}` } })).text();
      const second = /kinda_interface_transmit_bytes_total\{lab="t",device="r1",interface="eth0",link="domain lan"\} (\d+)/.exec(again);
      assert.ok(Number(second![1]) > Number(first[1]));
      assert.equal((await fetch(`http://127.0.0.1:${s.port}/?token=${s.token}`)).status, 404, "metrics only: no page");
    } finally {
      await s.close();
    }
  });
});
