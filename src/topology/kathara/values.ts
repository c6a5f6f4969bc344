/** The values of lab.conf lines: quoting, booleans, memory sizes, ports and command words. Pure. */
import type { PortSpec } from "../../model/lab.js";

const TRUE_WORDS = new Set(["true", "yes", "on", "1"]);
const FALSE_WORDS = new Set(["false", "no", "off", "0"]);

/** The lines of a text file, whatever its line ends (\n, \r\n or \r). */
export function splitLines(text: string): string[] {
  return text.replace(/\r\n?/g, "\n").split("\n");
}

/** Splits `"value"  # comment`, `'value'` or `value` into the value, or why it is malformed. */
export function unquote(raw: string): { value: string } | { error: string } {
  const first = raw[0];
  if (first === '"' || first === "'") {
    const end = raw.indexOf(first, 1);
    if (end < 0) return { error: `unterminated ${first} quote` };
    const rest = raw.slice(end + 1);
    if (rest.trim() !== "" && !/^\s+#/.test(rest)) {
      return { error: `unexpected text after the closing quote: ${JSON.stringify(rest.trim())}` };
    }
    const value = raw.slice(1, end);
    if (value.includes('"') || value.includes("'")) return { error: "a value may not contain a quote" };
    return { value };
  }
  const value = raw.trimEnd();
  if (value.includes('"') || value.includes("'")) return { error: "a value may not contain a quote" };
  return { value };
}

export function parseBool(v: string): boolean | undefined {
  const w = v.toLowerCase();
  if (TRUE_WORDS.has(w)) return true;
  if (FALSE_WORDS.has(w)) return false;
  return undefined;
}

const MEM = /^(\d+)([bkmg]?)$/i;
export function parseMemory(v: string): number | undefined {
  const m = MEM.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? "").toLowerCase() || "m";
  const mult = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit] ?? 1024 ** 2;
  return n * mult;
}

const PORT = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(tcp|udp|sctp))?$/i;
export function parsePort(v: string): PortSpec | undefined {
  const m = PORT.exec(v.trim());
  if (!m) return undefined;
  const host = m[1] === undefined ? 3000 : Number(m[1]);
  const guest = Number(m[2]);
  if (host < 1 || host > 65535 || guest < 1 || guest > 65535) return undefined;
  return { host, guest, protocol: (m[3] ?? "tcp").toLowerCase() as PortSpec["protocol"] };
}

/** Splits a command line the way a POSIX shell splits words (quotes, backslash), no expansion. */
export function shellSplit(s: string): string[] | undefined {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) return undefined;
  if (inWord) out.push(cur);
  return out;
}
