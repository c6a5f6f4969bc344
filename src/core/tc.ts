/** Words of a `tc ... tbf` line that a topology may give: checked wherever a topology is read. */

const TC_RATE = /^\d+(\.\d+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/;
const TC_SIZE = /^\d+(b|k|kb|kbit|m|mb|mbit)?$/;
const TC_TIME = /^\d+(\.\d+)?(us|ms|s)$/;

export interface TcValues {
  rate: string;
  burst?: string;
  latency?: string;
}

/** What is wrong with a link's shaping values (each becomes one word of a `tc` line). */
export function tcProblems(tc: TcValues): { field: "rate" | "burst" | "latency"; message: string }[] {
  const out: { field: "rate" | "burst" | "latency"; message: string }[] = [];
  const check = (field: "rate" | "burst" | "latency", v: unknown, re: RegExp, what: string) => {
    if (typeof v !== "string" || !re.test(v)) out.push({ field, message: `${JSON.stringify(v)} is not a tc ${what}` });
  };
  check("rate", tc.rate, TC_RATE, "rate (e.g. 20mbit)");
  if (tc.burst !== undefined) check("burst", tc.burst, TC_SIZE, "size (e.g. 32kbit)");
  if (tc.latency !== undefined) check("latency", tc.latency, TC_TIME, "time (e.g. 50ms)");
  return out;
}
