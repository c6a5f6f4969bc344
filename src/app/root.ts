/**
 * The composition root: the one place that makes the adapters (the container runtime, the state
 * store, the kernel), the provider registry and the reporter. Everything below app/ gets them
 * passed in; the rest of app/ asks these functions (lint: nothing else may `new` an adapter). The
 * adapters themselves are made in root-light.ts, which the quick commands import alone.
 */
import type { Runtime } from "../model/container.js";
import type { Kernel } from "../model/kernel.js";
import { silentReporter, type Reporter } from "../core/reporter.js";
import type { ProviderFactory } from "../model/provider.js";
import { KindProvider } from "../providers/kind.js";
import { KubePodsProvider } from "../providers/kube-pods.js";
import { ProviderRegistry } from "../providers/registry.js";
import type { StateStore } from "../state/store.js";
import type { ProviderLookup } from "../model/provider.js";
import { defaultKernel, defaultRuntime, defaultStore, dockerClient, kubeApiFor, lightRuntime } from "./root-light.js";

export { defaultKernel, defaultRuntime, defaultStore, dockerClient, kubeApiFor, lightRuntime };

/** The factory that rebuilds a KindProvider from the options a lab state recorded (for `down`). */
export function kindFromState(runtime: Runtime): ProviderFactory {
  return (name, o) =>
    new KindProvider(
      name,
      {
        ...(o["image"] ? { image: o["image"] } : {}),
        ...(o["kindBinary"] ? { kindBinary: o["kindBinary"] } : {}),
        ...(o["ownsNetwork"] ? { ownsNetwork: true } : {}),
        // a `kind create` of an up that died, and its config folder: delete() stops and removes them
        ...(o["createPid"] ? { createPid: o["createPid"] } : {}),
        ...(o["configDir"] ? { configDir: o["configDir"] } : {}),
      },
      runtime,
    );
}

/**
 * Rebuilds a KubePodsProvider (nodes under test as pods of a host cluster) from a lab state's
 * options: its image and namespace, and where the host cluster is (kubeconfig, context).
 */
export const kubePodsFromState: ProviderFactory = (name, o) => {
  const target = { ...(o["kubeconfig"] ? { kubeconfig: o["kubeconfig"] } : {}), ...(o["context"] ? { context: o["context"] } : {}) };
  return new KubePodsProvider(name, { image: o["image"] ?? "", target, ...(o["namespace"] ? { namespace: o["namespace"] } : {}) }, () =>
    kubeApiFor(target),
  );
};

/** The registry of cluster providers: one line per provider. */
export function createProviderRegistry(runtime: Runtime = defaultRuntime()): ProviderRegistry {
  return new ProviderRegistry().register("kind", kindFromState(runtime)).register("kube-pods", kubePodsFromState);
}

/** Everything a verb works with, made once here and passed down. */
export interface Env {
  runtime: Runtime;
  store: StateStore;
  kernel: Kernel;
  /** The provider registry (createProviderRegistry), or what a caller gave that finds providers the same way. */
  providers: ProviderLookup;
  reporter: Reporter;
}

/** The environment, with any part given instead of the default (tests, library users). */
export function createEnv(given: { [K in keyof Env]?: Env[K] | undefined } = {}): Env {
  const runtime = given.runtime ?? defaultRuntime();
  return {
    runtime,
    store: given.store ?? defaultStore(),
    kernel: given.kernel ?? defaultKernel(),
    providers: given.providers ?? createProviderRegistry(runtime),
    reporter: given.reporter ?? silentReporter,
  };
}
