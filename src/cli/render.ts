/** Progress on the terminal: a spinner per step on a TTY (ora), plain lines otherwise. */
import ora from "ora";
import type { Reporter, Step } from "../core/reporter.js";

function elapsed(t0: number): string {
  const s = (performance.now() - t0) / 1000;
  return s < 0.05 ? "" : ` (${s.toFixed(1)} s)`;
}

export function terminalReporter(stream: NodeJS.WriteStream = process.stderr): Reporter {
  const tty = Boolean(stream.isTTY) && !process.env["CI"];
  return {
    step(title: string): Step {
      const t0 = performance.now();
      if (tty) {
        const spinner = ora({ text: title, stream }).start();
        return {
          update: (text) => (spinner.text = text),
          done: (text) => spinner.succeed(`${text ?? title}${elapsed(t0)}`),
          fail: (text) => spinner.fail(`${text ?? title}${elapsed(t0)}`),
        };
      }
      stream.write(`… ${title}\n`);
      return {
        update: () => undefined,
        done: (text) => stream.write(`✔ ${text ?? title}${elapsed(t0)}\n`),
        fail: (text) => stream.write(`✖ ${text ?? title}${elapsed(t0)}\n`),
      };
    },
    warn: (m) => stream.write(`⚠ warning: ${m}\n`),
    info: (m) => stream.write(`${m}\n`),
  };
}
