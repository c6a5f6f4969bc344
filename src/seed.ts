/**
 * `kinda/seed`: the seed project's vocabulary, for programs written against it. A
 * {@link Network} described with a {@link TreeTopologyBuilder} of device definitions ({@link Def}
 * with the metas) and {@link Link}s, deployed by a {@link KindaCluster} scope; or a lab's cluster
 * put together by hand with a {@link ClusterBuilder} and a {@link KindProvider}.
 *
 * @packageDocumentation
 */
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
  type KindaClusterOptions,
  type TreeOptions,
  type DeviceMeta,
  type ClusterSession,
} from "./app/tree.js";
export { ClusterBuilder, KindProvider } from "./app/library.js";
export type { ClusterOptions, NodeLink, NodeRole, TrafficControl } from "./model/cluster.js";
export type { ClusterProvider } from "./model/provider.js";
export type { KindOptions } from "./providers/kind.js";
