/**
 * `kinda node LAB NAME add|remove` on a real Kind cluster (own script: npm run test:k8s:node,
 * about 5 minutes here, so not in the default CI run): a worker added to a running cluster,
 * linked to the router between the racks, joins and is Ready with its topology name, and a pod
 * on it answers a pod on the other rack's worker (through the router); removed, it is drained,
 * gone from `kubectl get nodes`, its container and its link's address in the router gone too,
 * and the other nodes hold no tunnel entry, neighbour or pod route for it any more; `down`
 * removes the rest.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImages, CACHE, KIND, Kubectl, NODE_IMAGE } from "../k8s/support.js";
import { FRR_IMAGE, POD_IMAGE } from "../support/env.js";
import { kinda, kindaOk } from "../support/kinda.js";

/** Overridable so that a run beside another one (or beside CI) can use its own name. */
const LAB = process.env["KINDA_NODEADD_LAB"] ?? "scale-nodeadd";
const env = { PATH: `${CACHE}/bin:${process.env["PATH"]}`, KINDA_KIND: KIND };

describe("kinda node add/remove (real Kind)", { timeout: 900_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "kinda-nodeadd-"));
  const topo = join(dir, "racks.yaml");
  before(async () => {
    buildImages();
    process.env["PATH"] = env.PATH;
    process.env["KINDA_KIND"] = KIND;
    writeFileSync(
      topo,
      [
        `name: ${LAB}`,
        "routing: static",
        "encapsulation: vxlan",
        `cluster: { image: "${NODE_IMAGE}", name: ${LAB} }`,
        "devices:",
        "  - { name: gw, kind: router, image: kathara/frr }",
        "  - { name: c1, kind: control-plane }",
        "  - { name: w1, kind: worker }",
        "links:",
        "  - { endpoints: [gw, c1], addresses: [10.0.7.1/24, 10.0.7.2/24] }",
        "  - { endpoints: [gw, w1], addresses: [10.0.4.1/24, 10.0.4.2/24] }",
        "",
      ].join("\n"),
    );
    await kindaOk("up", topo, "--image-map", `kathara/frr=${FRR_IMAGE}`);
  });
  after(async () => {
    await kinda("down", LAB);
  });

  it("adds a worker between the racks that becomes Ready, and removes it again", async () => {
    const out = await kindaOk("node", LAB, "w2", "add", "--device", "gw", "--address", "10.0.9.2/24", "--device-address", "10.0.9.1/24");
    assert.match(out, new RegExp(`added node w2 .*Kubernetes node ${LAB}-w2, pods 10\\.244\\.`));
    const kube = new Kubectl(LAB);
    kube.run(["wait", "--for=condition=Ready", `node/${LAB}-w2`, "--timeout=180s"]);
    assert.equal(kube.run(["get", "node", `${LAB}-w2`, "-o", "jsonpath={.metadata.labels.kinda\\.dev/name}"]), "w2");
    const gw = `kinda-${LAB}-gw`;
    assert.match(execFileSync("/usr/bin/docker", ["exec", gw, "ip", "-br", "addr"], { encoding: "utf8" }), /10\.0\.9\.1\/24/);

    // it carries pods: one on w2 answers one on w1 (the other rack), across the router
    execFileSync(KIND, ["load", "docker-image", POD_IMAGE, "--name", LAB], { stdio: "ignore" });
    const pod = (name: string, node: string) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name },
      spec: {
        nodeSelector: { "kinda.dev/name": node },
        containers: [{ name: "p", image: POD_IMAGE, imagePullPolicy: "Never", command: ["sleep", "infinity"] }],
      },
    });
    kube.run(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: [pod("on-w2", "w2"), pod("on-w1", "w1")] }));
    kube.run(["wait", "--for=condition=Ready", "pod/on-w2", "pod/on-w1", "--timeout=180s"]);
    assert.equal(kube.run(["get", "pod", "on-w2", "-o", "jsonpath={.spec.nodeName}"]), `${LAB}-w2`);
    const w2Pod = kube.run(["get", "pod", "on-w2", "-o", "jsonpath={.status.podIP}"]).trim();
    const w2Cidr = kube.run(["get", "node", `${LAB}-w2`, "-o", "jsonpath={.spec.podCIDR}"]).trim();
    assert.match(kube.run(["exec", "on-w1", "--", "ping", "-c", "3", "-W", "2", w2Pod]), /3 packets received|3 received/);
    kube.run(["delete", "pod", "on-w1", "on-w2", "--wait=false"]);
    const w1 = `${LAB}-worker`;
    const inW1 = (...argv: string[]) => execFileSync("/usr/bin/docker", ["exec", w1, ...argv], { encoding: "utf8" });
    assert.match(inW1("bridge", "fdb", "show", "dev", "kinda-vx"), /dst 10\.0\.9\.2/, "w1 tunnels to w2 while it is there");

    const rm = await kindaOk("node", LAB, "w2", "remove");
    assert.match(rm, /removed node w2 .*drained first/);
    assert.doesNotMatch(kube.run(["get", "nodes", "-o", "name"]), new RegExp(`${LAB}-w2`));
    assert.doesNotMatch(
      execFileSync("/usr/bin/docker", ["ps", "-a", "--format", "{{.Names}}"], { encoding: "utf8" }),
      new RegExp(`${LAB}-w2`),
    );
    assert.doesNotMatch(execFileSync("/usr/bin/docker", ["exec", gw, "ip", "-br", "addr"], { encoding: "utf8" }), /10\.0\.9\.1/);
    // the other nodes forgot it: no tunnel forwarding entry toward it, no route of kinda's to its
    // pods (the pod table; Kind's CNI keeps its own routes in the main table) or to its address
    assert.doesNotMatch(inW1("bridge", "fdb", "show", "dev", "kinda-vx"), /dst 10\.0\.9\.2/);
    const podTable = inW1("ip", "route", "show", "table", "4242");
    assert.ok(!podTable.includes(w2Cidr), `${w1} still routes w2's pods ${w2Cidr}:\n${podTable}`);
    assert.doesNotMatch(inW1("ip", "route", "show", "10.0.9.2/32"), /via/);
    assert.ok(!inW1("ip", "rule").includes(w2Cidr), `${w1} keeps a rule for ${w2Cidr}`);
  });
});
