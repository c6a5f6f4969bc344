/**
 * Runs a device's data-plane services (Open vSwitch daemons and flows, BMv2 and its table
 * entries) in order, each an argv through the runtime (a typed operation rendered by plan/ops.ts). A readiness step is retried until its
 * deadline. A failing step throws a KindaError naming the device and the topology field it comes
 * from; the caller rolls the lab back. The services' state lives in the container: removing the
 * container is their inverse.
 */
import { KindaError, formatIssue } from "../core/errors.js";
import type { Runtime } from "../model/container.js";
import type { ServiceStep } from "../model/lab.js";
import { cliFailure } from "../core/p4cli.js";
import { refusedLine } from "../core/p4json.js";
import { serviceArgv } from "../plan/ops.js";

const RETRY_MS = 500;

function failed(s: ServiceStep, output: string, exitCode: number): boolean {
  return exitCode !== 0 || (s.failOn !== undefined && new RegExp(s.failOn, "m").test(output));
}

export async function runServices(
  runtime: Runtime,
  id: string,
  dev: { name: string; services: readonly ServiceStep[] },
  phase: "network" | "cluster",
): Promise<void> {
  for (const s of dev.services.filter((x) => (x.after ?? "network") === phase)) {
    const deadline = Date.now() + (s.retrySeconds ?? 0) * 1000;
    const argv = serviceArgv(s);
    for (;;) {
      const r = await runtime.exec(id, argv);
      if (s.cli) {
        const f = cliFailure(r.output, s.cli.length, r.exitCode);
        if (!f) break;
        const line = f.index === undefined ? undefined : s.cli[f.index];
        throw new KindaError(
          formatIssue({
            device: dev.name,
            field: line?.field ?? s.field ?? "cli",
            message: line
              ? `the switch CLI refused ${JSON.stringify(line.text)} (exit ${r.exitCode}):\n  ${f.answer.split("\n").join("\n  ")}`
              : `${s.what} failed (exit ${r.exitCode}): ${argv.join(" ")}\n  ${f.answer.split("\n").join("\n  ")}`,
          }),
        );
      }
      if (s.checkCli && r.exitCode === 0) {
        checkAgainstCompiled(dev.name, s, r.output);
        break;
      }
      if (!failed(s, r.output, r.exitCode)) break;
      if (Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, RETRY_MS));
        continue;
      }
      let out = r.output.trim().split("\n").slice(-6).join("\n  ");
      if (s.log) {
        const tail = await runtime.exec(id, ["tail", "-n", "8", s.log]).catch(() => undefined);
        if (tail?.exitCode === 0 && tail.output.trim())
          out += `\n  last lines of ${s.log}:\n  ${tail.output.trim().split("\n").join("\n  ")}`;
      }
      const waited = s.retrySeconds ? ` within ${s.retrySeconds} s` : "";
      throw new KindaError(
        formatIssue({
          device: dev.name,
          ...(s.field ? { field: s.field } : {}),
          message: `${s.what} failed${waited} (exit ${r.exitCode}): ${argv.join(" ")}${out ? `\n  ${out}` : ""}`,
        }),
        // a `sh -c` step's script says itself which command is missing (p4c, simple_switch_grpc): no "carry sh?"
        (r.exitCode === 126 || r.exitCode === 127) && argv[0] !== "sh" ? { hint: `does the image of ${dev.name} carry ${argv[0]}?` } : {},
      );
    }
  }
}

/** The step's lines checked against the program JSON it printed; the first refused one fails the deploy at its field. */
function checkAgainstCompiled(device: string, s: ServiceStep, json: string): void {
  let refused: ReturnType<typeof refusedLine>;
  try {
    refused = refusedLine(json, s.checkCli ?? []);
  } catch (e) {
    throw new KindaError(
      formatIssue({ device, ...(s.field ? { field: s.field } : {}), message: `${s.what}: not BMv2 JSON (${(e as Error).message})` }),
    );
  }
  if (!refused) return;
  throw new KindaError(
    formatIssue({
      device,
      field: refused.line.field,
      message: `${refused.line.text}: ${refused.problem} (checked against the program p4c compiled in the device, before the switch started)`,
    }),
  );
}
