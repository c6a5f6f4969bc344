/**
 * The composition root: the one place that makes the adapters (the Docker runtime, the state
 * store) and the provider registry. Everything below app/ gets them passed in.
 */
import type { Runtime } from "../model/container.js";
import { kindFromState } from "../providers/kind.js";
import { ProviderRegistry } from "../providers/registry.js";
import { DockerRuntime } from "../runtime/docker.js";
import type { KubeApi, KubeTarget } from "../model/kube.js";
import { StateStore } from "../state/store.js";

/** The container runtime kinda uses: Docker, through its Engine API. */
export function defaultRuntime(): Runtime {
  return new DockerRuntime();
}

/** The state store at $KINDA_STATE_DIR (default /var/lib/kinda). */
export function defaultStore(): StateStore {
  return new StateStore();
}

/** The registry of cluster providers: one line per provider. */
export function createProviderRegistry(runtime: Runtime = defaultRuntime()): ProviderRegistry {
  return new ProviderRegistry().register("kind", kindFromState(runtime));
}

/**
 * The Kubernetes runtime's client of a host cluster (kubeconfig and context; defaults: the
 * client's). Loaded on demand: @kubernetes/client-node only for labs on that runtime.
 */
export async function kubeApiFor(target: KubeTarget = {}): Promise<KubeApi> {
  const { KubeClusterApi } = await import("../runtime/kube.js");
  return new KubeClusterApi(target);
}
