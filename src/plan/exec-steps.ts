/**
 * A device's `exec` commands as start-up steps. A run of plain iproute2 object lines (what static
 * routing compiles: `ip addr add`, `ip route add`, `ip link set`) becomes one step that feeds
 * them to one `ip -force -batch` process: a k=8 fat tree's hosts have over 200 such lines each,
 * and a step per line cost a shell and an `ip` process per line. Like separate steps, every line
 * is tried and the step fails if any line did. Images whose `ip` has no -batch (BusyBox) run the
 * lines one by one.
 */

/** `ip` lines safe to batch: plain words of addresses, names and numbers, nothing a shell reads. */
const IP_LINE = /^ip ((?:addr|address|route|link) [\w.:/ -]+)$/;
const END = "KINDA_IP_BATCH";

export interface ExecStep {
  label: string;
  text: string;
}

/** The script of one batched step: its lines as an `ip -batch` here-document. */
export function ipBatchScript(lines: readonly string[]): string {
  return [
    `if ip -batch /dev/null 2>/dev/null; then ip -force -batch -; else rc=0; while read -r l; do ip $l || rc=1; done; exit $rc; fi <<'${END}'`,
    ...lines,
    END,
    "",
  ].join("\n");
}

/** The label of exec commands I..J (one step, or one batch): `exec-I`, `exec-I-J`. */
export function execLabel(i: number, j: number): string {
  return i === j ? `exec-${i}` : `exec-${i}-${j}`;
}

/**
 * The device's first `exec` commands that kinda applies itself from the host, in the device's
 * network namespace, right after its links (one `ip -force -batch` with bringing them up): the
 * leading run of plain object lines, which is what static routing compiles (addresses, MTUs,
 * routes). The container then runs no start-up at all when nothing else is left: no `docker exec`,
 * shell and `ip` per device. A line naming a namespace or process (`netns`) stays inside the
 * device, where those mean the device's own. As `ip` batch lines (no leading `ip`).
 */
export function hostIpLines(exec: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of exec) {
    const m = IP_LINE.exec(c);
    if (!m || /\bnetns\b/.test(m[1]!)) break;
    out.push(m[1]!);
  }
  return out;
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
      out.push({ label: execLabel(first + i, first + j - 1), text: ipBatchScript(exec.slice(i, j).map((c) => IP_LINE.exec(c)![1]!)) });
      i = j;
    } else {
      out.push({ label: execLabel(first + i, first + i), text: exec[i]! + "\n" });
      i++;
    }
  }
  return out;
}
