/** CLI of Kathara's run-time verbs: restart, list, wipe, connect. */
import { Option, type Command } from "commander";
import { createInterface } from "node:readline/promises";
import { KindaError } from "../core/errors.js";
import type { LabListing } from "../app/verbs.js";

// Loaded when a verb runs (as main.ts does): registering these commands must not load dockerode.
const verbs = () => import("../app/verbs.js");
const terminalReporter = async () => (await import("./render.js")).terminalReporter();

function printList(labs: LabListing[]): void {
  if (labs.length === 0) {
    console.log("no lab on this machine");
    return;
  }
  const rows = labs.map((l) => [
    l.name,
    l.manager,
    l.phase,
    `${l.running}/${l.devices}`,
    l.cluster ?? "-",
    l.manager === "kathara" ? `user ${l.user || "?"}` : (l.source ?? "-"),
  ]);
  const head = ["LAB", "BY", "PHASE", "DEVICES", "CLUSTER", "FROM"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => (i < r.length - 1 ? c.padEnd(w[i]!) : c)).join("  "));
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function addVerbs(program: Command, setExit: (code: number) => void): void {
  program
    .command("restart")
    .description("restart a lab (down, then up from the same source, name and image map), or one device of it")
    .argument("<name|path>", "lab name, or the directory it was deployed from")
    .argument("[device]", "only this device: shutdown scripts, container made again, links and start-up as at up")
    .action(async (arg: string, device: string | undefined) => {
      const name = (await import("../app/api.js")).resolveLabName(arg);
      const { restartDevice, restartLab } = await verbs();
      if (device) {
        const st = await restartDevice(name, device, { reporter: await terminalReporter() });
        const s = st.devices.find((d) => d.name === device)?.startup;
        if (s?.status === "failed") {
          console.log(`start-up FAILED on ${device} at ${s.failedStep} (exit ${s.exitCode}); output: ${s.log}`);
          setExit(3);
        }
        return;
      }
      const r = await restartLab(name, { reporter: await terminalReporter() });
      console.log(`lab ${name} restarted: ${r.state.devices.length} devices in ${r.seconds.toFixed(1)} s`);
      if (r.failedDevices.length) setExit(3);
    });

  program
    .command("list")
    .description("every lab on this machine: kinda's, and those Kathara started (any user)")
    .option("--json", "machine-readable output")
    .action(async (o: { json?: boolean }) => {
      const labs = await (await verbs()).listLabs();
      if (o.json) console.log(JSON.stringify(labs, null, 2));
      else printList(labs);
    });

  program
    .command("wipe")
    .description(
      "remove every kinda object on this machine: all labs (containers, namespaces, host links and rules, state), clusters kinda made",
    )
    .option("-y, --yes", "do not ask for confirmation")
    .action(async (o: { yes?: boolean }) => {
      const { wipe, wipePlan } = await verbs();
      const plan = await wipePlan();
      if (plan.labs.length === 0 && plan.strayContainers.length === 0) {
        console.log("nothing of kinda's on this machine");
        return;
      }
      const what = [...plan.labs.map((l) => `lab ${l}`), ...plan.strayContainers.map((c) => `container ${c}`)];
      console.log(`kinda wipe removes: ${what.join(", ")}`);
      if (!o.yes && !(await confirm("remove all of these? [y/N] "))) {
        throw new KindaError("not confirmed: nothing removed", { hint: "answer y on a terminal, or pass --yes" });
      }
      const r = await wipe(plan, { reporter: await terminalReporter() });
      for (const f of r.failed) console.error(`kinda: could not remove ${f}`);
      console.log(
        `wiped ${r.labs.length - r.failed.length} labs${plan.strayContainers.length ? ` and ${plan.strayContainers.length} stray containers` : ""}`,
      );
      if (r.failed.length) setExit(1);
    });

  program
    .command("connect")
    .description("a shell in a device (its lab's shell; Kathara's connect)")
    .argument("<device>", "device name")
    .addOption(new Option("--lab <name>", "lab of the device, when several labs have it").env("KINDA_LAB"))
    .action(async (device: string, o: { lab?: string }) => {
      const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
      const { execIn } = await import("../app/exec.js");
      const r = await execIn(device, [], {
        ...(o.lab ? { lab: o.lab } : {}),
        interactive,
        stdin: !interactive,
        stdout: process.stdout,
        stderr: process.stderr,
      });
      setExit(r.exitCode);
    });
}

export function addAttach(program: Command): void {
  program
    .command("attach")
    .description("attach a Kubernetes cluster to a lab that Kathara started (nodes linked to its devices or collision domains)")
    .requiredOption("--kathara <dir|hash>", "the Kathara lab: its directory, or its lab hash (kinda list shows them)")
    .argument(
      "<file>",
      "YAML: nodes ([{name, role}]), links ([{node, device|domain, nodeAddress, ...}]), encapsulation, cluster: {name, image}",
    )
    .option("-n, --name <name>", "kinda's name for the lab (default: kathara-<hash>)")
    .action(async (file: string, o: { kathara: string; name?: string }) => {
      const { attachToKathara, readAttachSpec } = await import("../app/kathara.js");
      const spec = readAttachSpec(file);
      const r = await attachToKathara(o.kathara, spec, { ...(o.name ? { name: o.name } : {}), reporter: await terminalReporter() });
      console.log(`cluster attached to Kathara lab as ${r.lab}: ${r.result.nodes.map((n) => `${n.name}=${n.k8sName}`).join(", ")}`);
      console.log(`  status: kinda status ${r.lab}    remove (only what kinda added): kinda down ${r.lab}`);
    });
}
