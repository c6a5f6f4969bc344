/**
 * The composition root: the one place that decides which adapters and providers the library
 * and the CLI use. Everything below app/ gets them passed in.
 */
import { kindFromState } from "../providers/kind.js";
import { ProviderRegistry } from "../providers/registry.js";

/** The registry of cluster providers: one line per provider. */
export function createProviderRegistry(): ProviderRegistry {
  return new ProviderRegistry().register("kind", kindFromState);
}
