/**
 * The cluster providers a process knows, by the kind recorded in a lab's state. Filled in one
 * place (app/root.ts), never as a side effect of importing a provider, so that `kinda down` finds
 * the provider whatever else was imported.
 */
import type { ClusterProvider, ProviderFactory, ProviderLookup } from "../model/provider.js";

export class ProviderRegistry implements ProviderLookup {
  private readonly factories = new Map<string, ProviderFactory>();

  /** Adds (or replaces) the factory for one provider kind; returns the registry for chaining. */
  register(kind: string, factory: ProviderFactory): this {
    this.factories.set(kind, factory);
    return this;
  }

  kinds(): string[] {
    return [...this.factories.keys()];
  }

  providerFor(kind: string, name: string, options: Record<string, string> = {}): ClusterProvider | undefined {
    return this.factories.get(kind)?.(name, options);
  }
}
