/**
 * kinda as a library: bring a topology up (a Kathara lab directory, a YAML file, a TypeScript
 * module, or a spec made in code, e.g. by a generator), get a {@link Lab} handle that holds the
 * network and its Kubernetes cluster, change links and devices while it runs, and take it down.
 * The seed's builder vocabulary (Network, TreeTopologyBuilder, KindaCluster, the device metas)
 * is the `kinda/seed` entry point.
 *
 * @packageDocumentation
 */
export { up, dryRun, Lab, type UpOptions, type TopologySource } from "./app/up.js";
export { down, status, type DownOptions, type LabStatus, type DeviceStatus } from "./app/api.js";
export { execIn, type ExecInOptions } from "./app/exec.js";
export { addLink, removeLink, addDevice, removeDevice, changeLink, type LinkChange } from "./app/live.js";
export { fatTree, leafSpine, tree, linear } from "./topology/generators.js";
export type { GeneratorOptions, FatTreeOptions, LeafSpineOptions, TreeGenOptions, LinearOptions } from "./topology/generators.js";
export { createProviderRegistry } from "./app/root.js";
export { KindaError, TopologyError } from "./core/errors.js";
export type { TopologySpec, DeviceSpec, LinkSpec, ClusterSpec } from "./model/spec.js";
export type { ClusterProvider } from "./model/provider.js";
export type { Reporter } from "./core/reporter.js";
