/**
 * A device's `exec` commands (the user's own, as written) as start-up steps. A run of plain
 * iproute2 object lines (`ip addr add`, `ip route add`, `ip link set`) becomes one step that feeds
 * them to one `ip -force -batch` process: a step per line cost a shell and an `ip` process per
 * line. (kinda's own addresses and routes are typed operations, DevicePlan.netConfig, not these.) Like separate steps, every line
 * is tried and the step fails if any line did. Images whose `ip` has no -batch (BusyBox) run the
 * lines one by one. This file only reads the user's text; the script that runs it is rendered by
 * plan/ops.ts (userIpLinesScript).
 */
import { userIpLinesScript } from "./ops.js";

/** `ip` lines safe to batch: plain words of addresses, names and numbers, nothing a shell reads. */
const IP_LINE = /^ip ((?:addr|address|route|link) [\w.:/ -]+)$/;

export interface ExecStep {
  label: string;
  text: string;
}

/** The label of exec commands I..J (one step, or one batch): `exec-I`, `exec-I-J`. */
export function execLabel(i: number, j: number): string {
  return i === j ? `exec-${i}` : `exec-${i}-${j}`;
}

/**
 * Steps for `exec` commands: `exec-I` for a single command, `exec-I-J` for a batched run I..J.
 * `first`: the index of exec[0] among the device's commands (the ones before it applied elsewhere).
 */
export function execSteps(exec: readonly string[], first = 0): ExecStep[] {
  const out: ExecStep[] = [];
  for (let i = 0; i < exec.length;) {
    let j = i;
    while (j < exec.length && IP_LINE.test(exec[j]!)) j++;
    if (j - i >= 2) {
      out.push({ label: execLabel(first + i, first + j - 1), text: userIpLinesScript(exec.slice(i, j).map((c) => IP_LINE.exec(c)![1]!)) });
      i = j;
    } else {
      out.push({ label: execLabel(first + i, first + i), text: exec[i]! + "\n" });
      i++;
    }
  }
  return out;
}
