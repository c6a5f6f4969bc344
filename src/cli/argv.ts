/**
 * Command-line words read before commander is loaded: the seed's shorthand (`kinda DEVICE CMD`)
 * and the plain form of `kinda exec`, which the start-up entry (kinda.ts) runs without loading
 * the rest of the CLI.
 */

/** The verbs; any other first word is a device (the shorthand). */
export const KNOWN_COMMANDS = new Set([
  "up",
  "down",
  "status",
  "exec",
  "logs",
  "who",
  "reverse",
  "graph",
  "expand",
  "p4-entries",
  "doctor",
  "link",
  "device",
  "node",
  "capture",
  "top",
  "check",
  "help",
  "restart",
  "list",
  "wipe",
  "connect",
  "attach",
  "ui",
  "metrics",
]);

/** The seed's shorthand: `kinda [--lab NAME] <device> [cmd...]` is `kinda exec [--lab NAME] <device> -- [cmd...]`. */
export function expandShorthand(argv: string[]): string[] {
  const head = argv.slice(0, 2);
  let words = argv.slice(2);
  const lab: string[] = [];
  if (words[0] === "--lab" && words[1] !== undefined && words[2] !== undefined && !KNOWN_COMMANDS.has(words[2])) {
    lab.push("--lab", words[1]);
    words = words.slice(2);
  }
  const first = words[0];
  if (first !== undefined && !first.startsWith("-") && !KNOWN_COMMANDS.has(first)) {
    const rest = words.slice(1);
    return [...head, "exec", ...lab, first, "--", ...(rest[0] === "--" ? rest.slice(1) : rest)];
  }
  return argv;
}

export interface FastExec {
  device: string;
  cmd: string[];
  lab?: string;
  stdin: boolean;
}

/**
 * `kinda exec [--lab NAME|--lab=NAME] [-i|--stdin] DEVICE [-- CMD...]` (argv as process.argv,
 * the shorthand already expanded): what to run; undefined for any other form (help, unknown
 * options, words after DEVICE without `--`), which the full CLI then parses and explains.
 */
export function fastExec(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): FastExec | undefined {
  if (argv[2] !== "exec") return undefined;
  let lab = env["KINDA_LAB"] || undefined;
  let stdin = false;
  let device: string | undefined;
  for (let i = 3; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === "--") {
      if (device === undefined) return undefined;
      return { device, cmd: argv.slice(i + 1), stdin, ...(lab ? { lab } : {}) };
    }
    if (w === "--lab") {
      const v = argv[++i];
      if (v === undefined || v.startsWith("-")) return undefined;
      lab = v;
    } else if (w.startsWith("--lab=") && w.length > 6) lab = w.slice(6);
    else if (w === "-i" || w === "--stdin") stdin = true;
    else if (w.startsWith("-") || device !== undefined) return undefined;
    else device = w;
  }
  return device === undefined ? undefined : { device, cmd: [], stdin, ...(lab ? { lab } : {}) };
}
