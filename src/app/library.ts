/**
 * The library's classes and functions with the composition root's defaults filled in, so that
 * `new KindProvider(name)`, `new ClusterBuilder(lab, provider)`, `deploy(plan, { runtime })` work
 * as they always did; the engine and provider classes below take their adapters explicitly.
 */
import type { Runtime } from "../model/container.js";
import type { ClusterProvider } from "../model/provider.js";
import type { ClusterOptions } from "../model/cluster.js";
import type { Plan } from "../plan/lab.js";
import { ClusterBuilder as EngineClusterBuilder, destroyCluster as engineDestroyCluster, type BuilderDeps } from "../engine/cluster.js";
import { deploy as engineDeploy, teardown as engineTeardown, type DeployOptions, type TeardownOptions } from "../engine/lab.js";
import { KindProvider as BaseKindProvider, type KindOptions } from "../providers/kind.js";
import { createEnv, defaultRuntime } from "./root.js";

export class KindProvider extends BaseKindProvider {
  constructor(name: string, options: KindOptions = {}, runtime: Runtime = defaultRuntime()) {
    super(name, options, runtime);
  }
}

export class ClusterBuilder extends EngineClusterBuilder {
  constructor(lab: string, provider: ClusterProvider, options: ClusterOptions = {}, deps: Partial<BuilderDeps> = {}) {
    const { runtime, store, kernel } = createEnv(deps);
    super(lab, provider, options, { ...deps, runtime, store, kernel });
  }
}

/** Removes a lab's cluster (see engine/cluster.ts); the provider is found in the default registry. */
export function destroyCluster(lab: string, deps: Partial<Parameters<typeof engineDestroyCluster>[1]> = {}): Promise<void> {
  const { runtime, store, kernel, providers } = createEnv({ ...deps, providers: undefined });
  return engineDestroyCluster(lab, { ...deps, runtime, store, kernel, providers: deps.providers ?? providers });
}

export function deploy(plan: Plan, opts: Omit<DeployOptions, "store" | "kernel"> & Partial<Pick<DeployOptions, "store" | "kernel">>) {
  const { store, kernel } = createEnv({ runtime: opts.runtime, store: opts.store, kernel: opts.kernel });
  return engineDeploy(plan, { ...opts, store, kernel });
}

export function teardown(
  name: string,
  opts: Omit<TeardownOptions, "store" | "kernel"> & Partial<Pick<TeardownOptions, "store" | "kernel">>,
) {
  const env = createEnv({ runtime: opts.runtime, store: opts.store, kernel: opts.kernel });
  return engineTeardown(name, { ...opts, store: env.store, kernel: env.kernel, providers: opts.providers ?? env.providers });
}
