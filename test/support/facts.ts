/** Node facts as a provider would report them, for pure plan tests (no containers behind them). */
import { LOAD_BALANCER, type LoadBalancerFacts, type NodeFacts } from "../../src/model/cluster.js";
import { renderStep, type ClusterPlan, type NsOps } from "../../src/plan/cluster.js";

export function fakeNodes(n: number): NodeFacts[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `n${i}`,
    role: i === 0 ? "control-plane" : "worker",
    k8sName: `k-${i}`,
    container: `k-${i}`,
    containerId: `id${i}`,
    pid: 1000 + i,
    internalIp: `172.18.0.${i + 2}`,
    providerCidr: "172.18.0.0/16",
    providerGateway: "172.18.0.1",
    providerIf: "eth0",
    podCidrs: [`10.244.${i}.0/24`],
  }));
}

/** A provider's API load balancer (Kind's haproxy container) on the same Kind network. */
export function fakeLoadBalancer(container: string): LoadBalancerFacts {
  return {
    name: LOAD_BALANCER,
    role: "load-balancer",
    container,
    containerId: "idlb",
    pid: 2000,
    internalIp: "172.18.0.9",
    providerCidr: "172.18.0.0/16",
    providerGateway: "172.18.0.1",
    providerIf: "eth0",
    apiPort: 6443,
  };
}

/** A step of a cluster plan as the tools get it (rendered lines), with its namespace and flags. */
export function findStep(p: ClusterPlan, pred: (s: NsOps) => boolean) {
  const s = p.steps.find(pred);
  return s && { ...s, ...renderStep(s) };
}
