/**
 * Link shaping values as tc takes them: a rate alone is a token bucket (tbf); any netem option
 * makes it netem, with the rate as netem's own. Validation names each field, for every front end
 * (CLI options, YAML paths, lab.kinda lines).
 */
export interface Shaping {
  rate?: string;
  burst?: string;
  latency?: string;
  delay?: string;
  jitter?: string;
  loss?: string;
  duplicate?: string;
  reorder?: string;
  corrupt?: string;
}

export const NETEM_FIELDS = ["delay", "jitter", "loss", "duplicate", "reorder", "corrupt"] as const;

const TC_RATE = /^\d+(\.\d+)?(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$/i;
const TC_SIZE = /^\d+(b|k|kb|kbit|m|mb|mbit)?$/i;
const TC_TIME = /^\d+(\.\d+)?(us|ms|s)$/;
const PERCENT = /^(100(\.0+)?|\d{1,2}(\.\d+)?)%$/;

/** Problems of a shaping request, each naming its field (`rate`, `delay`...). */
export function shapingProblems(s: Shaping): { field: keyof Shaping; message: string }[] {
  const out: { field: keyof Shaping; message: string }[] = [];
  const check = (field: keyof Shaping, re: RegExp, example: string, what: string) => {
    const v = s[field];
    if (v !== undefined && !re.test(v)) out.push({ field, message: `${JSON.stringify(v)} is not ${what} (e.g. ${example})` });
  };
  check("rate", TC_RATE, "10mbit", "a tc rate");
  check("burst", TC_SIZE, "32kbit", "a tc size");
  check("latency", TC_TIME, "50ms", "a tc time");
  check("delay", TC_TIME, "20ms", "a tc time");
  check("jitter", TC_TIME, "5ms", "a tc time");
  for (const f of ["loss", "duplicate", "reorder", "corrupt"] as const) check(f, PERCENT, "1%", "a percentage");
  if (s.jitter !== undefined && s.delay === undefined) out.push({ field: "jitter", message: "needs a delay to vary" });
  if (s.reorder !== undefined && s.delay === undefined)
    out.push({ field: "reorder", message: "needs a delay (netem sends reordered packets at once, the rest delayed)" });
  if (!usesNetem(s) && s.rate === undefined) {
    if (s.burst !== undefined || s.latency !== undefined)
      out.push({ field: "rate", message: "is missing (burst and latency belong to a rate)" });
    else
      out.push({ field: "rate", message: "is missing: give a rate or a netem option (delay, jitter, loss, duplicate, reorder, corrupt)" });
  }
  if (usesNetem(s) && (s.burst !== undefined || s.latency !== undefined))
    out.push({
      field: s.burst !== undefined ? "burst" : "latency",
      message: "applies to the token bucket (rate alone); with netem options the rate is netem's own",
    });
  return out;
}

export function usesNetem(s: Shaping): boolean {
  return NETEM_FIELDS.some((f) => s[f] !== undefined);
}

/** The qdisc after `root`: tbf for a rate alone, netem (with its own rate) otherwise. */
export function qdiscArgs(s: Shaping): string[] {
  if (!usesNetem(s)) return ["tbf", "rate", s.rate!, "burst", s.burst ?? "32kbit", "latency", s.latency ?? "50ms"];
  const a = ["netem"];
  if (s.delay) a.push("delay", s.delay, ...(s.jitter ? [s.jitter] : []));
  for (const f of ["loss", "duplicate", "reorder", "corrupt"] as const) if (s[f]) a.push(f, s[f]);
  if (s.rate) a.push("rate", s.rate);
  return a;
}

export function describeShaping(s: Shaping): string {
  return Object.entries(s)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}
