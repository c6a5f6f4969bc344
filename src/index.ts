/** kinda as a library. */
export * from "./errors.js";
export * from "./topology/model.js";
export { parseLabConf, parseLabDep, loadKatharaLab } from "./topology/kathara.js";
export { planLab, formatPlan, type Plan, type DevicePlan } from "./plan/plan.js";
export { deploy, teardown, preflight } from "./engine/engine.js";
export type { Reporter, Step } from "./engine/reporter.js";
export type { Runtime, ContainerSpec, ContainerInfo } from "./runtime/runtime.js";
export { DockerRuntime } from "./runtime/docker.js";
export { StateStore } from "./state/store.js";
export { up, down, status, execIn, findDevice, dryRun, resolveLabName } from "./api.js";
export { ClusterBuilder, destroyCluster, discoverDevices } from "./cluster/cluster.js";
export { KindProvider, kindConfig, kindConfigYaml } from "./cluster/kind.js";
export { planCluster, formatClusterPlan } from "./cluster/plan.js";
export { ClusterExistsError, registerProvider, type ClusterProvider } from "./cluster/provider.js";
export * from "./cluster/model.js";
export { whoIs, reverseName, clusterNodes } from "./api.js";
export * from "./topology/spec.js";
export { compileSpec, validateSpec } from "./topology/compile.js";
export { parseTopologyYaml, loadTopologyYaml, expandTopologyYaml } from "./topology/yaml.js";
export { fatTree, leafSpine, tree, linear, DEFAULT_ADDRESS_POOL } from "./topology/generators.js";
export type { GeneratorOptions, FatTreeOptions, LeafSpineOptions, TreeGenOptions, LinearOptions } from "./topology/generators.js";
export { RouteGraph, nextHopArgs } from "./plan/routes.js";
export { upTopology, planTopology, TopologyHandle } from "./topology/deploy.js";
export {
  Network,
  TreeTopologyBuilder,
  KindaCluster,
  Def,
  Link,
  K8sNodeMeta,
  LoadBalancerMeta,
  NetDeviceMeta,
  ExternalDeviceMeta,
  HostMeta,
  IncSwitchMeta,
} from "./topology/tree.js";
