/**
 * The light half of the composition root (app/root.ts re-exports it): the adapters that
 * `kinda exec` and `kinda link` need, in a module that loads no cluster provider, no YAML and no
 * dockerode (the Docker runtime is loaded on its first call), so those commands stay one quick
 * process. Nothing outside these two files makes an adapter (lint).
 */
import type { Runtime } from "../model/container.js";
import type { Kernel } from "../model/kernel.js";
import type { KubeApi, KubeTarget } from "../model/kube.js";
import { hostKernel } from "../net/kernel.js";
import { EngineApi } from "../runtime/engine-api.js";
import { dockerClient, lazyDockerRuntime } from "../runtime/lazy.js";
import { StateStore } from "../state/store.js";

export { dockerClient };

/** The container runtime kinda uses: Docker, through its Engine API (dockerode loaded on first use). */
export function defaultRuntime(): Runtime {
  return lazyDockerRuntime();
}

/** The light Engine API client (list, inspect, exec; no dockerode): what link changes, exec and watch need. */
export function lightRuntime(): EngineApi {
  return new EngineApi();
}

/** The state store at $KINDA_STATE_DIR (default /var/lib/kinda). */
export function defaultStore(): StateStore {
  return new StateStore();
}

/** The host's kernel: namespaces, typed operations rendered by plan/ops.ts, host programs by argv. */
export function defaultKernel(): Kernel {
  return hostKernel;
}

/**
 * The Kubernetes runtime's client of a host cluster (kubeconfig and context; defaults: the
 * client's). Loaded on demand: @kubernetes/client-node only for labs on that runtime.
 */
export async function kubeApiFor(target: KubeTarget = {}): Promise<KubeApi> {
  const { KubeClusterApi } = await import("../runtime/kube.js");
  return new KubeClusterApi(target);
}
