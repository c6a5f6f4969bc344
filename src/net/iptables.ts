/**
 * Reading iptables-save output as data. kinda removes its rules by chain and position, never by
 * feeding a saved rule's words back to iptables: a device is root in its own namespace and could
 * write a rule whose comment, split wrongly, would add options (such as --modprobe, which runs a
 * program) to an iptables run with the host's binary in that namespace.
 */

/** The words of one iptables-save line: quoted words ("a b", with \" and \\) are one word. */
export function saveWords(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === "\\" && i + 1 < line.length) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = true;
      inWord = true;
    } else if (c === " " || c === "\t") {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

export interface RulePosition {
  table: string;
  chain: string;
  /** 1-based position of the rule in its chain, as `iptables -D CHAIN N` takes it. */
  number: number;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Rules of `save` (iptables-save output) that carry `-m comment --comment COMMENT`, as positions,
 * in an order safe to delete one by one (the last of each chain first).
 */
export function rulesWithComment(save: string, comment: string): RulePosition[] {
  const found: RulePosition[] = [];
  let table = "";
  const counts = new Map<string, number>();
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) {
      table = line.slice(1).trim();
      counts.clear();
      continue;
    }
    if (!line.startsWith("-A ")) continue;
    const words = saveWords(line);
    const chain = words[1] ?? "";
    const number = (counts.get(chain) ?? 0) + 1;
    counts.set(chain, number);
    if (!hasComment(words, comment)) continue;
    // names only as iptables makes them; anything else is not kinda's and is left alone
    if (!NAME.test(table) || !NAME.test(chain)) continue;
    found.push({ table, chain, number });
  }
  return found.sort((a, b) => a.table.localeCompare(b.table) || a.chain.localeCompare(b.chain) || b.number - a.number);
}

/** Does a rule (its words) carry exactly this comment? */
export function hasComment(words: readonly string[], comment: string): boolean {
  const i = words.indexOf("--comment");
  return i >= 0 && words[i - 1] === "comment" && words[i + 1] === comment;
}

/** argv (after the iptables binary) printing the rule at a position (`-A CHAIN ...`), to check it is still the one. */
export function showArgv(r: RulePosition): string[] {
  return ["--wait", "-t", r.table, "-S", r.chain, String(r.number)];
}

/** argv (after the iptables binary) deleting one rule by its position. */
export function deleteArgv(r: RulePosition): string[] {
  return ["--wait", "-t", r.table, "-D", r.chain, String(r.number)];
}
