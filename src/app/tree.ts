/**
 * The seed's cluster scope: `KindaCluster` deploys a topology made with the builders
 * (topology/builders.ts, re-exported here) and tears everything down when the scope ends
 * (`await using`), on error, and on Ctrl+C (the only signal handling besides cli/).
 */
import { KindaError } from "../core/errors.js";
import type { ClusterProvider } from "../model/provider.js";
import type { Reporter } from "../core/reporter.js";
import type { TopologySpec } from "../model/spec.js";
import type { ClusterSession, Network } from "../topology/builders.js";
import { TopologyHandle, upTopology, type UpTopologyOptions } from "./topology.js";

export * from "../topology/builders.js";

/**
 * The seed's KatharaBackedCluster as a scope: `await using cluster = new KindaCluster(name, network)`.
 * Whatever it built is removed when the scope ends, when building fails, or on Ctrl+C.
 */
export class KindaCluster implements ClusterSession {
  handle: TopologyHandle | undefined;
  /** Aborted on Ctrl+C: a deploy or build in progress stops and removes what it created. */
  private readonly abort = new AbortController();
  private busy: Promise<unknown> | undefined;
  private readonly onSignal = () => {
    this.abort.abort();
    void (async () => {
      await this.busy?.catch(() => undefined);
      await this.dispose();
    })().finally(() => process.exit(130));
  };

  constructor(
    readonly name: string,
    readonly network: Network,
    readonly options: { provider?: ClusterProvider; reporter?: Reporter; imageMap?: Record<string, string> } = {},
  ) {
    process.once("SIGINT", this.onSignal);
    process.once("SIGTERM", this.onSignal);
  }

  /** The spec with this cluster's name, so that validation judges the name Kind will get. */
  private named(spec: TopologySpec): TopologySpec {
    return { ...spec, cluster: { ...spec.cluster, name: this.name } };
  }

  private upOptions(): UpTopologyOptions {
    return {
      signal: this.abort.signal,
      ...(this.options.provider ? { provider: this.options.provider } : {}),
      ...(this.options.reporter ? { reporter: this.options.reporter } : {}),
      ...(this.options.imageMap ? { imageMap: this.options.imageMap } : {}),
    };
  }

  private async track<T>(p: Promise<T>): Promise<T> {
    this.busy = p;
    try {
      return await p;
    } finally {
      this.busy = undefined;
    }
  }

  private usable(): void {
    if (this.disposing) throw new KindaError(`cluster ${this.name} was disposed; make a new KindaCluster`);
  }

  async deployNetwork(spec: TopologySpec): Promise<void> {
    this.usable();
    if (this.handle) return;
    this.handle = await this.track(upTopology(this.named(spec), { ...this.upOptions(), networkOnly: true }));
  }

  async build(spec: TopologySpec): Promise<void> {
    this.usable();
    try {
      // upTopology removes what it created when it fails or is aborted
      if (!this.handle) this.handle = await this.track(upTopology(this.named(spec), this.upOptions()));
      else await this.track(this.handle.buildCluster(this.abort.signal));
    } catch (e) {
      await this.dispose();
      throw e;
    }
  }

  private disposing: Promise<void> | undefined;

  /** Removes what was built; a second call (Ctrl+C during scope exit) waits for the same teardown. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      process.off("SIGINT", this.onSignal);
      process.off("SIGTERM", this.onSignal);
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
