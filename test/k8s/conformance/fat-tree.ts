/**
 * A k=4 fat tree with one control plane and six workers at its edge, spread over the fabric's
 * pods (examples/fat-tree-cluster.ts: static ECMP routing, pods routed natively, apiThroughNetwork),
 * for Kubernetes' own e2e conformance tests: scripts/k8s/conformance.sh fat-tree.
 */
import { fatTreeCluster } from "../../../examples/fat-tree-cluster.js";

export default fatTreeCluster(6, { name: "e2e-fat-tree" });
