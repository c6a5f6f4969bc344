/**
 * The seed's cluster scope: `KindaCluster` deploys a topology made with the builders
 * (topology/builders.ts, re-exported here) through the one `up` pipeline and tears everything
 * down when the scope ends (`await using`) or building fails. It installs no signal handlers and
 * never exits the process: pass an AbortSignal to stop it (the CLI does this on Ctrl+C).
 */
import { KindaError } from "../core/errors.js";
import type { ClusterProvider } from "../model/provider.js";
import type { Reporter } from "../core/reporter.js";
import type { TopologySpec } from "../model/spec.js";
import type { ClusterSession, Network } from "../topology/builders.js";
import { Lab, up, type UpOptions } from "./up.js";

export * from "../topology/builders.js";

/** Options of a {@link KindaCluster}. */
export interface KindaClusterOptions {
  /** The cluster provider (default: Kind, from the registry). */
  provider?: ClusterProvider;
  /** Told each step; default silent. */
  reporter?: Reporter;
  /** Image substitutions (FROM → TO), as `--image-map`. */
  imageMap?: Record<string, string>;
  /** Aborting stops a deploy or build in progress; what it created is removed. */
  signal?: AbortSignal;
}

/**
 * The seed's KatharaBackedCluster as a scope: `await using cluster = new KindaCluster(name, network)`.
 * Whatever it built is removed when the scope ends or when building fails.
 */
export class KindaCluster implements ClusterSession {
  /** The lab, once deployed. */
  handle: Lab | undefined;

  constructor(
    /** The Kind cluster's name. */
    readonly name: string,
    /** The network (its builder sets its spec). */
    readonly network: Network,
    readonly options: KindaClusterOptions = {},
  ) {}

  /** The spec with this cluster's name, so that validation judges the name Kind will get. */
  private named(spec: TopologySpec): TopologySpec {
    return { ...spec, cluster: { ...spec.cluster, name: this.name } };
  }

  private upOptions(): UpOptions {
    return {
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      ...(this.options.provider ? { provider: this.options.provider } : {}),
      ...(this.options.reporter ? { reporter: this.options.reporter } : {}),
      ...(this.options.imageMap ? { imageMap: this.options.imageMap } : {}),
    };
  }

  private usable(): void {
    if (this.disposing) throw new KindaError(`cluster ${this.name} was disposed; make a new KindaCluster`);
  }

  /** Deploys the network only (the seed's setup_network); the nodes come with {@link build}. */
  async deployNetwork(spec: TopologySpec): Promise<void> {
    this.usable();
    if (this.handle) return;
    this.handle = await up(this.named(spec), { ...this.upOptions(), networkOnly: true });
  }

  /** Deploys what is not up yet and builds the cluster inside the network (the seed's attach_and_build_cluster). */
  async build(spec: TopologySpec): Promise<void> {
    this.usable();
    try {
      // up removes what it created when it fails or is aborted
      if (!this.handle) this.handle = await up(this.named(spec), this.upOptions());
      else await this.handle.buildCluster(this.options.signal);
    } catch (e) {
      await this.dispose();
      throw e;
    }
  }

  private disposing: Promise<void> | undefined;

  /** Removes what was built; a second call waits for the same teardown. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      const h = this.handle;
      this.handle = undefined;
      await h?.down();
    })();
    return this.disposing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
