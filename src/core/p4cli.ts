/**
 * Reading simple_switch_CLI's answers. The CLI is a Python `cmd.Cmd` loop: for each line it reads
 * it writes its prompt `RuntimeCmd: ` and then that command's output, and it exits 0 whatever the
 * commands did. So a failure is found in the output, and the N-th prompt's output belongs to the
 * N-th line given (BMv2's tools/runtime_CLI.py, as read in its public source):
 *   - `Error: ...`, `Invalid match key: ...`, `Invalid runtime data: ...`, `Invalid table
 *     operation (...)` and the other `Invalid ... operation` answers of its error handler;
 *   - `*** Unknown syntax: LINE` (cmd's default for a command it does not have: a typo);
 *   - a Python traceback (an exception the handler did not catch).
 * An empty line makes `cmd` repeat the previous command, so kinda never sends one (cliLines).
 */

/** A failure in one command's answer (a regular expression over that answer). */
export const P4_CLI_FAILURE = "^\\s*(Error|Invalid|\\*\\*\\* Unknown syntax)|Traceback|[Ee]xception";
const FAILURE = new RegExp(P4_CLI_FAILURE, "m");
const PROMPT = "RuntimeCmd: ";

/** The lines to send: no blank lines (the CLI would repeat the previous command) and no comments (it has none). */
export function cliLines<T extends { text: string }>(lines: readonly T[]): T[] {
  return lines.filter((l) => l.text.trim() !== "" && !l.text.trim().startsWith("#"));
}

export interface CliFailure {
  /** Index of the failing line in what was sent; undefined when the answer cannot be placed. */
  index?: number;
  /** That command's answer (or the end of the whole output). */
  answer: string;
}

/** The first failed command in the CLI's output for `sent` lines (undefined: all went through). */
export function cliFailure(output: string, sent: number, exitCode: number): CliFailure | undefined {
  const parts = output.split(PROMPT);
  // parts[0]: what the CLI printed before its first prompt (connecting, the program's JSON)
  if (parts.length > 1) {
    for (let k = 1; k < parts.length && k <= sent; k++) if (FAILURE.test(parts[k]!)) return { index: k - 1, answer: parts[k]!.trim() };
    if (FAILURE.test(parts[0]!)) return { answer: parts[0]!.trim() };
    if (exitCode === 0) return undefined;
    // it stopped early: the command it was at
    const at = Math.min(parts.length - 2, sent - 1);
    return { ...(at >= 0 ? { index: at } : {}), answer: lastLines(output) };
  }
  if (exitCode !== 0 || FAILURE.test(output) || /Could not connect/.test(output)) return { answer: lastLines(output) };
  return undefined;
}

function lastLines(output: string): string {
  return output.trim().split("\n").slice(-6).join("\n");
}
