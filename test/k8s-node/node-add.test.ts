/**
 * `kinda node LAB NAME add|remove` on a real Kind cluster (own script: npm run test:k8s:node,
 * about 4 minutes here, so not in the default CI run): a worker added to a running cluster,
 * linked to the router between the racks, joins and is Ready with its topology name; removed,
 * it is drained, gone from `kubectl get nodes`, its container and its link's address in the
 * router gone too; `down` removes the rest.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImages, CACHE, KIND, Kubectl, NODE_IMAGE } from "../k8s/support.js";
import { FRR_IMAGE } from "../support/env.js";
import { kinda, kindaOk } from "../support/kinda.js";

const LAB = "scale-nodeadd";
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
    assert.match(out, /added node w2 .*Kubernetes node scale-nodeadd-w2, pods 10\.244\./);
    const kube = new Kubectl(LAB);
    kube.run(["wait", "--for=condition=Ready", "node/scale-nodeadd-w2", "--timeout=180s"]);
    assert.equal(kube.run(["get", "node", "scale-nodeadd-w2", "-o", "jsonpath={.metadata.labels.kinda\\.dev/name}"]), "w2");
    const gw = `kinda-${LAB}-gw`;
    assert.match(execFileSync("/usr/bin/docker", ["exec", gw, "ip", "-br", "addr"], { encoding: "utf8" }), /10\.0\.9\.1\/24/);

    const rm = await kindaOk("node", LAB, "w2", "remove");
    assert.match(rm, /removed node w2 .*drained first/);
    assert.doesNotMatch(kube.run(["get", "nodes", "-o", "name"]), /scale-nodeadd-w2/);
    assert.doesNotMatch(execFileSync("/usr/bin/docker", ["ps", "-a", "--format", "{{.Names}}"], { encoding: "utf8" }), /scale-nodeadd-w2/);
    assert.doesNotMatch(execFileSync("/usr/bin/docker", ["exec", gw, "ip", "-br", "addr"], { encoding: "utf8" }), /10\.0\.9\.1/);
  });
});
