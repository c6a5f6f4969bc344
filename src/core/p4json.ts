/**
 * A compiled P4 program as BMv2 reads it (the JSON `p4c --target bmv2` writes): its tables, match
 * keys (kind and width), actions and their parameters, default actions, action profiles,
 * counters, meters and registers; and checks of simple_switch_CLI lines against it, so that a
 * table entry the switch would refuse (or, worse, take in a way the user did not mean) is refused
 * at its place before anything is created. Pure: the caller reads the file.
 *
 * The rules follow what BMv2's CLI (tools/runtime_CLI.py) does with a line, as read in its public
 * source: names are the fully-qualified ones or any suffix of them that is unique among objects
 * of the same type; `table_add T A KEY... => PARAM... [PRIORITY]` needs as many key fields as
 * the table has, as many parameters as the action has, and a priority when the table is ternary
 * or range; a value is an IPv4 address for 32-bit fields, a MAC for 48-bit, an IPv6 address for
 * 128-bit, else an integer (decimal or 0x...); LPM keys are VALUE/LENGTH, ternary VALUE&&&MASK,
 * range LOW->HIGH. kinda is stricter in one place: a value must fit the field's width in bits
 * (the CLI checks whole bytes, and the switch would keep only the low bits).
 *
 * It also finds paths through the ingress pipeline that never set the egress port: BMv2's
 * simple_switch then sends the frame out of port 0 (standard_metadata.egress_spec starts at 0),
 * which in kinda is the switch's first data interface.
 */

export interface P4Key {
  name: string;
  kind: string;
  width: number;
}
export interface P4Param {
  name: string;
  width: number;
}
export interface P4Action {
  name: string;
  id: number;
  params: P4Param[];
  /** Whether the action sets where the frame goes (egress_spec, a multicast group) or drops it. */
  setsEgress: boolean;
}
export interface P4Table {
  name: string;
  pipeline: string;
  matchType: string;
  type: string;
  key: P4Key[];
  actions: string[];
  actionProfile?: string;
  /** The action a miss runs (undefined: none, the frame goes on unchanged). */
  defaultAction?: string;
  defaultConst: boolean;
  /** Each action's next node ("__HIT__"/"__MISS__" when the table branches on hit). */
  next: Record<string, string | null>;
  baseNext: string | null;
  /** Actions of the table's constant entries. */
  constActions: string[];
}
export interface P4Program {
  tables: Map<string, P4Table>;
  actions: Map<string, P4Action>;
  actionProfiles: Map<string, { name: string; selector: boolean }>;
  counters: Map<string, { name: string; size: number; direct: boolean }>;
  meters: Map<string, { name: string; size: number; direct: boolean; rates: number }>;
  registers: Map<string, { name: string; size: number; width: number }>;
  pipelines: { name: string; init: string | null; conditionals: Map<string, { t: string | null; f: string | null }> }[];
}

type Json = Record<string, unknown>;
const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" ? v : 0);
const nextOf = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** Fields that say where a frame goes (or that it goes nowhere). */
function setsEgress(primitives: Json[]): boolean {
  return primitives.some((p) => {
    const op = str(p["op"]);
    if (op === "mark_to_drop" || op === "drop" || op === "_drop") return true;
    if (op !== "assign" && op !== "modify_field") return false;
    const dst = arr(p["parameters"])[0];
    const f = dst?.["type"] === "field" && Array.isArray(dst["value"]) ? (dst["value"] as string[]) : [];
    return f[0] === "standard_metadata" ? f[1] === "egress_spec" : f[1] === "mcast_grp" || f[1] === "mgid";
  });
}

function readTable(t: Json, pipeline: string, byId: Map<number, string>, fieldWidth: (target: unknown) => number): P4Table {
  const def = t["default_entry"] as Json | undefined;
  const defName = def && typeof def["action_id"] === "number" ? byId.get(def["action_id"]) : undefined;
  const next = (t["next_tables"] ?? {}) as Record<string, unknown>;
  const table: P4Table = {
    name: str(t["name"]),
    pipeline,
    matchType: str(t["match_type"]),
    type: str(t["type"]) || "simple",
    key: arr(t["key"]).map((k) => {
      const target = k["target"];
      const kind = str(k["match_type"]);
      const name = Array.isArray(target) ? (target as string[]).join(".") : str(target);
      return { name, kind, width: kind === "valid" ? 1 : fieldWidth(target) };
    }),
    actions: (Array.isArray(t["actions"]) ? t["actions"] : []).map(str),
    defaultConst: def?.["action_const"] === true,
    next: Object.fromEntries(Object.entries(next).map(([k, v]) => [k, nextOf(v)])),
    baseNext: nextOf(t["base_default_next"]),
    constActions: arr(t["entries"])
      .map((e) => byId.get(num((e["action_entry"] as Json | undefined)?.["action_id"])))
      .filter((x): x is string => x !== undefined),
  };
  if (defName) table.defaultAction = defName;
  const prof = str(t["action_profile"]) || str(t["act_prof_name"]);
  if (prof) table.actionProfile = prof;
  return table;
}

/** Reads BMv2 JSON (already parsed). Throws a plain Error naming what is missing if it is not. */
export function readP4Program(doc: unknown): P4Program {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error("not a JSON object");
  const j = doc as Json;
  const headerTypes = new Map(arr(j["header_types"]).map((h) => [str(h["name"]), arr(h["fields"]) as unknown as unknown[][]]));
  const headers = new Map(arr(j["headers"]).map((h) => [str(h["name"]), str(h["header_type"])]));
  const fieldWidth = (target: unknown): number => {
    if (!Array.isArray(target)) return 1;
    const [h, f] = target as string[];
    if (f === "$valid$") return 1;
    const field = headerTypes.get(headers.get(h!) ?? "")?.find((x) => x[0] === f);
    return typeof field?.[1] === "number" ? field[1] : 0;
  };
  const actions = new Map<string, P4Action>();
  const byId = new Map<number, string>();
  for (const a of arr(j["actions"])) {
    const action: P4Action = {
      name: str(a["name"]),
      id: num(a["id"]),
      params: arr(a["runtime_data"]).map((r) => ({ name: str(r["name"]), width: num(r["bitwidth"]) })),
      setsEgress: setsEgress(arr(a["primitives"])),
    };
    actions.set(action.name, action);
    byId.set(action.id, action.name);
  }
  const prog: P4Program = {
    tables: new Map(),
    actions,
    actionProfiles: new Map(),
    counters: new Map(
      arr(j["counter_arrays"]).map((c) => [
        str(c["name"]),
        { name: str(c["name"]), size: num(c["size"]), direct: c["is_direct"] === true },
      ]),
    ),
    meters: new Map(
      arr(j["meter_arrays"]).map((m) => [
        str(m["name"]),
        { name: str(m["name"]), size: num(m["size"]), direct: m["is_direct"] === true, rates: num(m["rate_count"]) || 2 },
      ]),
    ),
    registers: new Map(
      arr(j["register_arrays"]).map((r) => [str(r["name"]), { name: str(r["name"]), size: num(r["size"]), width: num(r["bitwidth"]) }]),
    ),
    pipelines: [],
  };
  if (!Array.isArray(j["pipelines"])) throw new Error("no pipelines");
  for (const p of arr(j["pipelines"])) {
    const pipeline = str(p["name"]);
    for (const ap of arr(p["action_profiles"]))
      prog.actionProfiles.set(str(ap["name"]), { name: str(ap["name"]), selector: ap["selector"] !== undefined });
    const conditionals = new Map(
      arr(p["conditionals"]).map((c) => [str(c["name"]), { t: nextOf(c["true_next"]), f: nextOf(c["false_next"]) }]),
    );
    prog.pipelines.push({ name: pipeline, init: nextOf(p["init_table"]), conditionals });
    for (const t of arr(p["tables"])) {
      const table = readTable(t, pipeline, byId, fieldWidth);
      prog.tables.set(table.name, table);
    }
  }
  return prog;
}

type Kind = "table" | "action" | "action profile" | "counter" | "meter" | "register";

/** simple_switch_CLI's lookup: the full name or a suffix (at dots) that only one object of the type has. */
function lookup<T>(objects: Map<string, T>, name: string): T | undefined {
  const exact = objects.get(name);
  if (exact) return exact;
  const hits = [...objects.keys()].filter((n) => n.endsWith(`.${name}`));
  return hits.length === 1 ? objects.get(hits[0]!) : undefined;
}

function names<T>(objects: Map<string, T>): string {
  const all = [...objects.keys()];
  return all.length ? all.slice(0, 8).join(", ") + (all.length > 8 ? ", ..." : "") : "none";
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const MAC = /^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$/;

/** A value as the CLI parses it for a field of `width` bits, or why not. */
function valueOf(text: string, width: number): bigint | string {
  if (width === 32 && text.includes(".")) {
    const m = IPV4.exec(text);
    if (!m || m.slice(1).some((o) => Number(o) > 255)) return `${text} is not an IPv4 address`;
    return m.slice(1).reduce((v, o) => (v << 8n) | BigInt(o), 0n);
  }
  if (width === 48 && text.includes(":")) {
    if (!MAC.test(text)) return `${text} is not a MAC address`;
    return BigInt(
      `0x${text
        .split(":")
        .map((b) => b.padStart(2, "0"))
        .join("")}`,
    );
  }
  if (width === 128 && text.includes(":")) return /^[0-9a-fA-F:.]+$/.test(text) ? 0n : `${text} is not an IPv6 address`;
  const t = text.replace(/_/g, "");
  if (!/^(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[1-9][0-9]*|0+)$/.test(t))
    return `${text} is not a number (decimal or 0x...) for a ${width}-bit field`;
  const v = BigInt(t.replace(/^0+(?=\d)/, ""));
  if (v >> BigInt(width) !== 0n) return `${text} does not fit the field's ${width} bits`;
  return v;
}

function keyProblem(k: P4Key, text: string): string | undefined {
  const bad = (v: bigint | string) => (typeof v === "string" ? v : undefined);
  const what = `key ${k.name} (${k.kind}, ${k.width} bits)`;
  switch (k.kind) {
    case "exact":
    case "optional": {
      const p = bad(valueOf(text, k.width));
      return p ? `${what}: ${p}` : undefined;
    }
    case "lpm": {
      const [v, len, more] = text.split("/");
      if (len === undefined || more !== undefined) return `${what}: ${text} is not VALUE/PREFIX_LENGTH`;
      if (!/^\d+$/.test(len) || Number(len) > k.width) return `${what}: prefix length ${len} is not 0-${k.width}`;
      const p = bad(valueOf(v!, k.width));
      return p ? `${what}: ${p}` : undefined;
    }
    case "ternary": {
      const parts = text.split("&&&");
      if (parts.length !== 2) return `${what}: ${text} is not VALUE&&&MASK`;
      const p = parts.map((x) => bad(valueOf(x, k.width))).find((x) => x);
      return p ? `${what}: ${p}` : undefined;
    }
    case "range": {
      const parts = text.split("->");
      if (parts.length !== 2) return `${what}: ${text} is not LOW->HIGH`;
      const [lo, hi] = parts.map((x) => valueOf(x, k.width));
      const p = [lo, hi].map((x) => bad(x!)).find((x) => x);
      if (p) return `${what}: ${p}`;
      return (lo as bigint) > (hi as bigint) ? `${what}: ${text}: the low end is above the high end` : undefined;
    }
    case "valid":
      return /^[01]$/.test(text) ? undefined : `${what}: ${text} is not 0 or 1`;
    default:
      return undefined;
  }
}

function paramsProblem(a: P4Action, given: readonly string[]): string | undefined {
  if (given.length !== a.params.length)
    return `action ${a.name} takes ${a.params.length} parameter${a.params.length === 1 ? "" : "s"}${
      a.params.length ? ` (${a.params.map((p) => `${p.name}: ${p.width} bits`).join(", ")})` : ""
    }, not ${given.length}`;
  for (const [i, p] of a.params.entries()) {
    const v = valueOf(given[i]!, p.width);
    if (typeof v === "string") return `action ${a.name}, parameter ${p.name} (${p.width} bits): ${v}`;
  }
  return undefined;
}

/** What the CLI commands kinda checks take; the rest of the CLI's commands are passed on unchecked. */
const OTHER_COMMANDS = new Set(
  (
    "greet shell show_tables show_actions table_show_actions table_info table_num_entries table_clear table_dump table_dump_entry " +
    "table_dump_member table_dump_group table_reset_default table_set_timeout table_indirect_delete_member table_indirect_modify_member " +
    "table_indirect_delete table_indirect_reset_default table_indirect_delete_group table_indirect_add_member_to_group " +
    "table_indirect_remove_member_from_group act_prof_delete_member act_prof_modify_member act_prof_delete_group " +
    "act_prof_remove_member_from_group act_prof_dump_member act_prof_dump_group act_prof_dump mc_mgrp_create mc_mgrp_destroy mc_node_create " +
    "mc_node_update mc_node_associate mc_node_dissociate mc_node_destroy mc_set_lag_membership mc_dump load_new_config_file swap_configs " +
    "meter_get_rates counter_write register_reset show_pvs pvs_add pvs_remove pvs_get pvs_clear port_add port_remove show_ports " +
    "switch_info reset_state write_config_to_file serialize_state set_crc16_parameters set_crc32_parameters set_toeplitz_hash_key " +
    "mirroring_add mirroring_add_mc mirroring_add_pkt_trunc mirroring_delete mirroring_get set_queue_depth set_queue_rate " +
    "get_time_elapsed get_time_since_epoch help EOF"
  ).split(" "),
);

/** Which table and action a CLI line uses, for the egress analysis (table_add, table_set_default). */
export interface CliUse {
  table: string;
  action: string;
  isDefault: boolean;
}

type Result = { problem?: string; use?: CliUse };
const fail = (problem: string): Result => ({ problem });

/** What one command's check needs: the program, the command, its arguments. */
class Line {
  constructor(
    readonly prog: P4Program,
    readonly cmd: string,
    readonly args: string[],
  ) {}
  need<T>(kind: Kind, objects: Map<string, T>, name: string | undefined): T | string {
    if (name === undefined) return `${this.cmd} needs a ${kind} name`;
    return lookup(objects, name) ?? `the program has no ${kind} ${name} (${kind}s: ${names(objects)})`;
  }
  tableAction(t: P4Table, name: string | undefined): P4Action | string {
    if (name === undefined) return `${this.cmd} needs an action name`;
    const a = lookup(this.prog.actions, name);
    return a && t.actions.includes(a.name) ? a : `table ${t.name} has no action ${name} (its actions: ${t.actions.join(", ") || "none"})`;
  }
  keysProblem(t: P4Table, keys: readonly string[]): string | undefined {
    if (keys.length !== t.key.length)
      return `table ${t.name} takes ${t.key.length} key field${t.key.length === 1 ? "" : "s"} (${t.key.map((k) => `${k.name}: ${k.kind}, ${k.width} bits`).join("; ")}), not ${keys.length}`;
    for (const [i, k] of t.key.entries()) {
      const p = keyProblem(k, keys[i]!);
      if (p) return `table ${t.name}: ${p}`;
    }
    return undefined;
  }
  /** KEYS => REST: split, the priority taken off ternary and range tables. */
  entry(t: P4Table, rest: string[]): { keys: string[]; after: string[] } | string {
    const at = rest.indexOf("=>");
    if (at < 0) return `${this.cmd} needs "=>" between the key and the action's parameters`;
    const after = rest.slice(at + 1);
    if (prioritized(t)) {
      const prio = after.pop();
      if (prio === undefined || !/^\d+$/.test(prio)) return `table ${t.name} is ${t.matchType}: the entry needs a priority at the end`;
    }
    const keys = rest.slice(0, at);
    return this.keysProblem(t, keys) ?? { keys, after };
  }
}

const prioritized = (t: P4Table) => t.matchType === "ternary" || t.matchType === "range";
const direct = (t: P4Table, indirect: boolean) =>
  (t.type !== "simple") === indirect
    ? undefined
    : indirect
      ? `table ${t.name} takes its actions directly (not through an action profile): use table_add`
      : `table ${t.name} takes its actions through action profile ${t.actionProfile}: use table_indirect_add or act_prof_create_member`;

function tableCmd(l: Line): Result {
  const t = l.need("table", l.prog.tables, l.args[0]);
  if (typeof t === "string") return fail(t);
  const kindProblem = direct(t, false);
  if (kindProblem) return fail(kindProblem);
  const a = l.tableAction(t, l.args[1]);
  if (typeof a === "string") return fail(a);
  let params = l.args.slice(2);
  if (l.cmd === "table_add") {
    const e = l.entry(t, params);
    if (typeof e === "string") return fail(e);
    params = e.after;
  } else if (l.cmd === "table_modify") {
    if (!/^\d+$/.test(params[0] ?? "")) return fail(`table_modify needs an entry handle after the action`);
    params = params.slice(1);
  } else if (t.defaultConst) return fail(`table ${t.name}'s default action is constant in the program (const default_action)`);
  const p = paramsProblem(a, params);
  if (p) return fail(p);
  return l.cmd === "table_modify" ? {} : { use: { table: t.name, action: a.name, isDefault: l.cmd === "table_set_default" } };
}

function tableKeyCmd(l: Line): Result {
  const t = l.need("table", l.prog.tables, l.args[0]);
  if (typeof t === "string") return fail(t);
  if (l.cmd === "table_delete") return /^\d+$/.test(l.args[1] ?? "") ? {} : fail("table_delete needs an entry handle (a number)");
  const keys = l.args.slice(1);
  if (prioritized(t)) keys.pop();
  const k = l.keysProblem(t, keys);
  return k ? fail(k) : {};
}

function memberCmd(l: Line): Result {
  const { prog, args } = l;
  const owner = l.cmd.startsWith("act_prof")
    ? l.need("action profile", prog.actionProfiles, args[0])
    : l.need("table", prog.tables, args[0]);
  if (typeof owner === "string") return fail(owner);
  if (l.cmd.endsWith("_group"))
    return "selector" in owner && !owner.selector ? fail(`action profile ${owner.name} has no selector: it takes members, not groups`) : {};
  const a = lookup(prog.actions, args[1] ?? "");
  if (!a) return fail(`the program has no action ${args[1] ?? "(none given)"}`);
  const p = paramsProblem(a, args.slice(2));
  return p ? fail(p) : {};
}

function indirectCmd(l: Line): Result {
  const t = l.need("table", l.prog.tables, l.args[0]);
  if (typeof t === "string") return fail(t);
  const kindProblem = direct(t, true);
  if (kindProblem) return fail(kindProblem);
  if (l.cmd.includes("set_default")) return /^\d+$/.test(l.args[1] ?? "") ? {} : fail(`${l.cmd} needs a member or group handle`);
  const e = l.entry(t, l.args.slice(1));
  if (typeof e === "string") return fail(e);
  return e.after.length === 1 && /^\d+$/.test(e.after[0]!) ? {} : fail(`${l.cmd} needs one member or group handle after "=>"`);
}

function counterCmd(l: Line): Result {
  const c = l.need("counter", l.prog.counters, l.args[0]);
  if (typeof c === "string") return fail(c);
  if (l.cmd === "counter_read" && !c.direct && !(Number(l.args[1]) < c.size))
    return fail(`counter ${c.name} has ${c.size} cells (0-${c.size - 1}), not ${l.args[1] ?? "(none given)"}`);
  return {};
}

function meterCmd(l: Line): Result {
  const m = l.need("meter", l.prog.meters, l.args[0]);
  if (typeof m === "string") return fail(m);
  let rates = l.args.slice(1);
  if (l.cmd === "meter_set_rates") {
    if (!m.direct && !(Number(rates[0]) < m.size)) return fail(`meter ${m.name} has ${m.size} cells (0-${m.size - 1}), not ${rates[0]}`);
    rates = rates.slice(1);
  }
  if (rates.length !== m.rates || !rates.every((r) => /^[0-9.eE+-]+:\d+$/.test(r)))
    return fail(`meter ${m.name} takes ${m.rates} rates as RATE:BURST (e.g. 0.0001:1 1:10), not ${rates.join(" ") || "none"}`);
  return {};
}

function registerCmd(l: Line): Result {
  const r = l.need("register", l.prog.registers, l.args[0]);
  if (typeof r === "string") return fail(r);
  if (l.args[1] !== undefined && !(Number(l.args[1]) < r.size)) return fail(`register ${r.name} has ${r.size} cells, not ${l.args[1]}`);
  if (l.cmd === "register_write") {
    if (l.args.length !== 3) return fail(`register_write takes REGISTER INDEX VALUE`);
    const v = valueOf(l.args[2]!, r.width);
    if (typeof v === "string") return fail(`register ${r.name}: ${v}`);
  }
  return {};
}

const CHECKS: Record<string, (l: Line) => Result> = {
  table_add: tableCmd,
  table_set_default: tableCmd,
  table_modify: tableCmd,
  table_delete: tableKeyCmd,
  table_dump_entry_from_key: tableKeyCmd,
  act_prof_create_member: memberCmd,
  table_indirect_create_member: memberCmd,
  act_prof_create_group: memberCmd,
  table_indirect_create_group: memberCmd,
  table_indirect_add: indirectCmd,
  table_indirect_add_with_group: indirectCmd,
  table_indirect_set_default: indirectCmd,
  table_indirect_set_default_with_group: indirectCmd,
  counter_read: counterCmd,
  counter_reset: counterCmd,
  meter_array_set_rates: meterCmd,
  meter_set_rates: meterCmd,
  register_read: registerCmd,
  register_write: registerCmd,
};

/**
 * Why the CLI line would fail or be misread by this program (undefined when it is fine), and the
 * table and action it sets, if any.
 */
export function checkCliLine(prog: P4Program, line: string): Result {
  const args = line.trim().split(/\s+/);
  const cmd = args.shift()!;
  const check = Object.hasOwn(CHECKS, cmd) ? CHECKS[cmd] : undefined;
  if (check) return check(new Line(prog, cmd, args));
  if (OTHER_COMMANDS.has(cmd) || cmd === "act_prof_add_member_to_group") return {};
  return fail(`simple_switch_CLI has no command ${cmd}: it would answer "*** Unknown syntax: ${line.trim()}" and exit 0`);
}

/**
 * Where the ingress can finish without having set the egress port, given the actions that can
 * run (table defaults, constant entries, and `uses`: the entries kinda writes): one sentence per
 * such table and action, empty when every path sets it or drops.
 */
export function egressUnset(prog: P4Program, uses: readonly CliUse[]): string[] {
  const ingress = prog.pipelines.find((p) => p.name === "ingress") ?? prog.pipelines[0];
  if (!ingress) return [];
  const defaults = new Map<string, string | undefined>();
  const hits = new Map<string, Set<string>>();
  for (const t of prog.tables.values()) {
    defaults.set(t.name, t.defaultAction);
    hits.set(t.name, new Set(t.constActions));
  }
  for (const u of uses) {
    if (u.isDefault) defaults.set(u.table, u.action);
    else hits.get(u.table)?.add(u.action);
  }
  const found = new Set<string>();
  const seen = new Set<string>();
  const walk = (node: string | null, set: boolean, why: string): void => {
    if (node === null) {
      if (!set) found.add(why);
      return;
    }
    const key = `${node}/${set}`;
    if (seen.has(key)) return;
    seen.add(key);
    const c = ingress.conditionals.get(node);
    if (c) {
      walk(c.t, set, set ? why : `the ingress where ${node} is true`);
      walk(c.f, set, set ? why : `the ingress where ${node} is false`);
      return;
    }
    const t = prog.tables.get(node);
    if (!t || t.pipeline !== ingress.name) return;
    const branch = "__HIT__" in t.next || "__MISS__" in t.next;
    const step = (action: string | undefined, hit: boolean) => {
      const a = action === undefined ? undefined : prog.actions.get(action);
      const next = branch ? t.next[hit ? "__HIT__" : "__MISS__"] : action !== undefined && action in t.next ? t.next[action] : t.baseNext;
      const label =
        action === undefined
          ? `table ${t.name} on a miss (no default action)`
          : `table ${t.name}, action ${action}${hit ? "" : " (its default)"}`;
      walk(next ?? null, set || (a?.setsEgress ?? false), set || a?.setsEgress ? why : label);
    };
    step(defaults.get(t.name), false);
    for (const a of hits.get(t.name) ?? []) step(a, true);
  };
  walk(ingress.init, false, "the ingress (it applies no table that sets it)");
  return [...found];
}

/** A simple_switch_CLI line and the topology field it comes from (e.g. "cli[3]", "lpm"). */
export interface FieldLine {
  text: string;
  field: string;
}

/**
 * The first of `lines` that a compiled program refuses, given the JSON text p4c wrote (for a
 * `.p4` program compiled in the device, read there before the switch starts); undefined when
 * every line passes or the JSON has no pipeline to check against (not p4c's output). Throws a
 * plain Error when the text is not BMv2 JSON.
 */
export function refusedLine(json: string, lines: readonly FieldLine[]): { line: FieldLine; problem: string } | undefined {
  const doc = JSON.parse(json) as Json;
  if (!Array.isArray(doc?.["pipelines"]) || !doc["pipelines"].length) return undefined;
  const prog = readP4Program(doc);
  for (const line of lines) {
    const { problem } = checkCliLine(prog, line.text);
    if (problem) return { line, problem };
  }
  return undefined;
}
