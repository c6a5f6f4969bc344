/** kinda as a library. */
export * from "./core/errors.js";
export * from "./model/lab.js";
export { parseLabConf, parseLabDep, loadKatharaLab } from "./topology/kathara.js";
export { planLab, formatPlan, type Plan, type DevicePlan } from "./plan/lab.js";
export { preflight } from "./engine/lab.js";
export { deploy, teardown, ClusterBuilder, destroyCluster, KindProvider } from "./app/library.js";
export type { Reporter, Step } from "./core/reporter.js";
export type { Runtime, ContainerSpec, ContainerInfo } from "./model/container.js";
export { DockerRuntime } from "./runtime/docker.js";
export { StateStore } from "./state/store.js";
export { up, down, status, execIn, findDevice, dryRun, resolveLabName } from "./app/api.js";
export { discoverDevices } from "./engine/cluster.js";
export { kindConfig, kindConfigYaml, kindFromState } from "./providers/kind.js";
export { planCluster, formatClusterPlan } from "./plan/cluster.js";
export { ClusterExistsError, type ClusterProvider, type ProviderFactory, type ProviderLookup } from "./model/provider.js";
export { ProviderRegistry } from "./providers/registry.js";
export { createProviderRegistry, defaultRuntime, defaultStore } from "./app/root.js";
export * from "./model/cluster.js";
export { whoIs, reverseName, clusterNodes } from "./app/api.js";
export * from "./model/spec.js";
// with kinda's static router bound (topology/compile.ts takes it as an argument)
export { compileTopology as compileSpec, validateTopology as validateSpec } from "./app/topology.js";
export { parseTopologyYaml, loadTopologyYaml, expandTopologyYaml } from "./topology/yaml.js";
export { fatTree, leafSpine, tree, linear, DEFAULT_ADDRESS_POOL } from "./topology/generators.js";
export { p4EntriesFor } from "./app/p4.js";
export { lpmEntries, lpmNeighbours, LPM_TABLE, LPM_ACTION } from "./topology/p4lpm.js";
export type { LpmNeighbour, LpmEntries } from "./topology/p4lpm.js";
export type { GeneratorOptions, FatTreeOptions, LeafSpineOptions, TreeGenOptions, LinearOptions } from "./topology/generators.js";
export { RouteGraph, nextHopArgs, staticRouter } from "./plan/routes.js";
export { upTopology, planTopology, TopologyHandle } from "./app/topology.js";
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
  OvsSwitchMeta,
} from "./app/tree.js";
export { parseLabExt } from "./topology/kathara.js";
export { restartLab, restartDevice, listLabs, wipePlan, wipe, type LabListing, type WipePlan } from "./app/verbs.js";
export { adoptKatharaLab, attachToKathara, parseAttachSpec, readAttachSpec, type AttachSpec } from "./app/kathara.js";
export { findKatharaLabs, findKatharaLab, katharaLabHash, type KatharaLab } from "./runtime/kathara.js";
export { capture, captureArgv, changeLink, checkShaping, netemAvailable, linkCounters, sampleLinks, formatLinks } from "./app/live.js";
export type { CaptureOptions, LinkChange, LinkCounters } from "./app/live.js";
export { resolveEndpoint, shapeOps, cutOps, inverse, commandsFor, type LiveOp, type LinkTarget, type IfRef } from "./plan/live.js";
export { shapingProblems, qdiscArgs, type Shaping } from "./core/tc.js";
export { parseKindaSideFile, KINDA_SIDE_FILE } from "./topology/kathara.js";
