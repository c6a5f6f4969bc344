/**
 * The Docker runtime, loaded on first use: importing it costs dockerode's load (about 2 s on a
 * loaded 2-core machine), which `kinda link`, `kinda exec` and `kinda status` of a lab without
 * containers to make never need. Every Runtime method is async, so deferring the load is invisible.
 */
import type { Runtime } from "../model/container.js";

export function lazyDockerRuntime(): Runtime {
  let real: Promise<Runtime> | undefined;
  const get = () => (real ??= import("./docker.js").then((m) => new m.DockerRuntime()));
  const call =
    <K extends keyof Runtime>(k: K) =>
    async (...args: Parameters<Runtime[K]>): Promise<Awaited<ReturnType<Runtime[K]>>> => {
      const rt = await get();
      return (rt[k] as (...a: Parameters<Runtime[K]>) => Promise<Awaited<ReturnType<Runtime[K]>>>).apply(rt, args);
    };
  // satisfies: a method added to Runtime and not here fails the type check
  const methods = {
    ping: call("ping"),
    missingImages: call("missingImages"),
    create: call("create"),
    putArchive: call("putArchive"),
    start: call("start"),
    inspect: call("inspect"),
    exec: call("exec"),
    list: call("list"),
    network: call("network"),
    removeNetwork: call("removeNetwork"),
    remove: call("remove"),
  } satisfies Record<keyof Runtime, unknown>;
  return methods as unknown as Runtime;
}

/** The Docker Engine client itself (for `kinda doctor`'s engine checks). */
export async function dockerClient() {
  return new (await import("./docker.js")).DockerRuntime().docker;
}
