/** `kinda ui LAB` (a live page of the lab) and `kinda metrics LAB` (Prometheus metrics). */
import type { Command } from "commander";

interface ServeFlags {
  listen?: string;
  allowRemote?: boolean;
  tokenFile?: string;
}

async function run(lab: string, o: ServeFlags, page: boolean): Promise<void> {
  const { readFileSync } = await import("node:fs");
  const { serveLab } = await import("../app/ui/index.js");
  const token = o.tokenFile ? readFileSync(o.tokenFile, "utf8").trim() : undefined;
  const s = await serveLab(lab, {
    page,
    ...(o.listen ? { listen: o.listen } : {}),
    ...(o.allowRemote ? { allowRemote: true } : {}),
    ...(token ? { token } : {}),
  });
  console.log(page ? `kinda ui: lab ${lab} at ${s.url}` : `kinda metrics: lab ${lab} at ${s.url}`);
  console.log(
    page ? "(the token in the URL is needed; Ctrl+C stops)" : `(scrape with the header "Authorization: Bearer ${s.token}"; Ctrl+C stops)`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => void s.close().then(resolve);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

export function addUiCommands(program: Command): void {
  const common = (c: Command) =>
    c
      .argument("<lab>", "lab name")
      .option("--listen <host:port>", "address to serve on (default 127.0.0.1 and a free port)")
      .option("--allow-remote", "allow a --listen address that is not loopback (the token is still required)")
      .option("--token-file <file>", "read the token from FILE instead of making a random one (at least 16 characters)");
  common(
    program
      .command("ui")
      .description("a live page of a lab that is up: its graph, link rates, drops and state, nodes; cut, restore and shape links"),
  ).action((lab: string, o: ServeFlags) => run(lab, o, true));
  common(
    program
      .command("metrics")
      .description(
        "Prometheus metrics of a lab that is up: per interface packets, bytes, drops, errors; qdiscs; link, device and node state",
      ),
  ).action((lab: string, o: ServeFlags) => run(lab, o, false));
}
