/**
 * Differential comparison with Kathara 3.8.3 (test/integration/kathara-diff.test.ts on kinda's own
 * lab, test/conformance/kathara-diff.test.ts on the conformance labs). Real Kathara cannot run here (its Docker network
 * plugin comes only from an image registry), so what it produces inside each device is recorded
 * below as data, each value with the place in Kathara's source (KatharaFramework/Kathara,
 * src/Kathara/...) or in the lab that makes it so. Each lab is deployed with kinda and every
 * device is read back in one exec: interfaces and their order, addresses, MACs the lab sets, IPv6,
 * routes after convergence, the sysctls Kathara sets, hostname, /etc/hosts, /etc/resolv.conf,
 * the /shared and /hostlab mounts and /hostlab's content, the start-up log, /tmp/EOS.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseLabConf } from "../../src/topology/kathara.js";
import { IMAGE_MAP_ARGS } from "./env.js";
import { assertNothingLeft, eventually, kindaOk } from "./kinda.js";

const SRC = "KatharaFramework/Kathara v3.8.3, src/Kathara/";
const WHY = {
  sysctl: `${SRC}manager/docker/DockerMachine.py create(): sysctl_parameters`,
  ipv6Default: `${SRC}setting/Setting.py: enable_ipv6 defaults to False; Machine.is_ipv6_enabled() reads the device's ipv6 option first`,
  hostname: `${SRC}manager/docker/DockerMachine.py create(): hostname=machine.name`,
  hosts: `${SRC}manager/docker/DockerMachine.py STARTUP_COMMANDS: umount /etc/hosts, then if it is empty 127.0.0.1/::1 localhost and 127.0.1.1 <device> (since v3.7.9, issue #341)`,
  resolv: `${SRC}manager/docker/DockerMachine.py STARTUP_COMMANDS: umount /etc/resolv.conf; the image's own file shows (empty in Kathara's images)`,
  hostlab: `${SRC}model/Machine.py pack_data(): hostlab/<device>/ and the <device>/shared .startup/.shutdown files that exist`,
  shared: `${SRC}manager/docker/DockerMachine.py create(): the lab's shared folder bound at /shared, mode rw`,
  log: `${SRC}manager/docker/DockerMachine.py STARTUP_COMMANDS: sed puts "set -x" first, the script runs from /hostlab (its shebang no longer first: the wrapper's shell runs it in a subshell, so xtrace shows "++ ") with &> /var/log/startup.log; each exec command is logged as "++ CMD" (start())`,
  eos: `${SRC}manager/docker/DockerMachine.py STARTUP_COMMANDS: touch /tmp/EOS last`,
  ifaces: `${SRC}manager/docker/DockerMachine.py start(): networks attached in interface-number order after start; the plugin names them eth<N> (no other interface but lo: network_mode none until the first)`,
  macs: `${SRC}manager/docker/DockerMachine.py _create_driver_opt(): kathara.mac_addr from lab.conf's CD/MAC`,
  addrs:
    "the lab's <device>.startup (and exec) lines: Kathara's networks use the null IPAM driver (DockerLink.create), so a device has no other IPv4 address",
};

/** The sysctls Kathara sets, with IPv6 off and on (WHY.sysctl); eth0's rp_filter: engines < 26. */
const SYSCTLS_COMMON: Record<string, string> = {
  "net/ipv4/conf/all/rp_filter": "0",
  "net/ipv4/conf/default/rp_filter": "0",
  "net/ipv4/conf/lo/rp_filter": "0",
  "net/ipv4/conf/eth0/rp_filter": "0",
  "net/ipv4/ip_forward": "1",
  "net/ipv4/icmp_ratelimit": "0",
};
const SYSCTLS_IPV6_OFF: Record<string, string> = {
  "net/ipv6/conf/all/disable_ipv6": "1",
  "net/ipv6/conf/default/disable_ipv6": "1",
  "net/ipv6/conf/all/forwarding": "0",
  "net/ipv6/conf/default/forwarding": "0",
  // not set by Kathara: the kernel's default stays (the observation: accept_ra=1)
  "net/ipv6/conf/eth0/accept_ra": "1",
};
const SYSCTLS_IPV6_ON: Record<string, string> = {
  "net/ipv6/conf/all/disable_ipv6": "0",
  "net/ipv6/conf/default/disable_ipv6": "0",
  "net/ipv6/conf/all/forwarding": "1",
  "net/ipv6/conf/all/accept_ra": "0",
  "net/ipv6/icmp/ratelimit": "0",
};

interface DeviceExpect {
  ifaces: string[];
  macs: Record<string, string>;
  addrs: string[];
  ipv6: boolean;
  /** Route destinations (`ip -4 route`) present after convergence. */
  routes: string[];
  /** The exact route destinations, when the lab fixes them all (static routing: no leak). */
  exactRoutes?: boolean;
  hosts: string;
  hostlab: string[];
  /** The xtrace lines ("++ ...") of /var/log/startup.log, in order. */
  log: string[];
  sharedLog: boolean;
  /** Files of the device folder whose owner:group and mode Kathara's wrapper sets. */
  owned?: Record<string, string>;
}

const katharaHosts = (d: string) => `127.0.0.1 localhost\n::1 localhost\n127.0.1.1 ${d}\n`;

/** kinda's own lab, written out value by value. */
export const OWN: Record<string, DeviceExpect> = {
  r1: {
    ifaces: ["eth0", "eth1"],
    macs: { eth0: "02:00:00:00:15:01" },
    addrs: ["10.15.1.1/24", "10.15.2.1/24"],
    ipv6: true, // r1[ipv6]="true"
    routes: ["10.15.1.0/24", "10.15.2.0/24"],
    exactRoutes: true,
    hosts: katharaHosts("r1"),
    hostlab: ["r1", "r1.startup", "shared.startup"],
    log: ["++ ip address add 10.15.1.1/24 dev eth0", "++ ip address add 10.15.2.1/24 dev eth1"],
    sharedLog: true,
    // STARTUP_COMMANDS: chown -R frr:frr /etc/frr/; chmod 640 /etc/frr/*
    owned: { "/etc/frr/daemons": "frr:frr 640" },
  },
  h1: {
    ifaces: ["eth0"],
    macs: {},
    addrs: ["10.15.1.2/24"],
    ipv6: false,
    routes: ["default", "10.15.1.0/24"],
    exactRoutes: true,
    // the device folder brings a non-empty etc/hosts: Kathara keeps it (`[ ! -s /etc/hosts ]`)
    hosts: "127.0.0.1 localhost\n10.15.1.1 gateway\n",
    hostlab: ["h1", "h1.startup", "shared.startup"],
    // CRLF turned to LF (utils.convert_win_2_linux), xtrace joins words with one space
    log: ["++ ip address add 10.15.1.2/24 dev eth0", "++ ip route add default via 10.15.1.1"],
    sharedLog: true,
  },
  h2: {
    ifaces: ["eth0"],
    macs: { eth0: "02:00:00:00:15:22" },
    addrs: ["10.15.2.2/24"],
    ipv6: false,
    routes: ["default", "10.15.2.0/24"],
    exactRoutes: true,
    hosts: katharaHosts("h2"),
    hostlab: ["h2.shutdown", "shared.startup"], // no folder, no h2.startup
    log: ["++ ip address add 10.15.2.2/24 dev eth0", "++ ip route add default via 10.15.2.1"],
    sharedLog: true,
  },
};

/**
 * For a conformance lab, the same expectation built by rules from its files (each rule is a
 * WHY above): interfaces from lab.conf, MACs from CD/MAC, addresses from the start-up file's
 * `ip address add` lines, IPv6 from the ipv6 option (default off), xtrace of every command line.
 */
export function expectFromLab(
  dir: string,
  routes: (device: string) => { routes: string[]; exact?: boolean },
): Record<string, DeviceExpect> {
  const conf = parseLabConf(readFileSync(join(dir, "lab.conf"), "utf8"));
  const out: Record<string, DeviceExpect> = {};
  const has = (f: string) => existsSync(join(dir, f));
  for (const d of conf.devices) {
    const script = has(`${d.name}.startup`) ? readFileSync(join(dir, `${d.name}.startup`), "utf8").replace(/\r\n/g, "\n") : "";
    const lines = script
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const r = routes(d.name);
    // interfaces the start-up script itself makes (one-bridge's b1: `ip link add name mainbridge`) follow
    const made = lines.flatMap((l) => /^ip link add name (\S+)/.exec(l)?.[1] ?? []);
    out[d.name] = {
      ifaces: [...d.interfaces.map((i) => `eth${i.index}`), ...made],
      macs: Object.fromEntries(d.interfaces.filter((i) => i.mac).map((i) => [`eth${i.index}`, i.mac!])),
      addrs: lines.flatMap((l) => /^ip address add (\S+) dev/.exec(l)?.[1] ?? []),
      ipv6: d.ipv6 === true,
      routes: r.routes,
      ...(r.exact ? { exactRoutes: true } : {}),
      hosts: katharaHosts(d.name),
      hostlab: [d.name, `${d.name}.startup`, `${d.name}.shutdown`, "shared.startup", "shared.shutdown"].filter(has).sort(),
      log: [...lines.map((l) => `++ ${l.split(/\s+/).join(" ")}`), ...d.exec.map((c) => `++ ${c}`)],
      sharedLog: has("shared.startup"),
    };
  }
  return out;
}

/** Route destinations each conformance lab's configuration leads to once converged. */
export const LAB_ROUTES: Record<string, (device: string) => { routes: string[]; exact?: boolean }> = {
  // static-routing: only connected subnets (its static routes are commented out)
  "static-routing": (d) =>
    ({
      r1: { routes: ["195.11.14.0/24", "100.0.0.8/30"], exact: true },
      r2: { routes: ["200.1.1.0/24", "100.0.0.8/30"], exact: true },
      pc1: { routes: ["195.11.14.0/24"], exact: true },
      pc2: { routes: ["200.1.1.0/24"], exact: true },
    })[d]!,
  // one-bridge: no address at all (the pcs get theirs from the conformance test's exec)
  "one-bridge": () => ({ routes: [], exact: true }),
  // ospf: every router learns the four 10.0.x.0/24 segments
  "ospf_frr-singlearea": () => ({ routes: ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"] }),
  // bgp-simple-peering: announces no prefix: connected subnets only
  "bgp-simple-peering": (d) =>
    d === "router1"
      ? { routes: ["193.10.11.0/24", "195.11.14.0/24"], exact: true }
      : { routes: ["193.10.11.0/24", "200.1.1.0/24"], exact: true },
  // rip: the lab does not start FRR (its README): connected subnets only
  rip: (d) =>
    ({
      r1: { routes: ["100.1.0.12/30", "100.1.0.8/30", "100.1.0.0/30", "100.1.1.0/24"], exact: true },
      r2: { routes: ["100.1.0.0/30", "100.1.0.4/30", "100.1.2.0/24"], exact: true },
      r3: { routes: ["100.1.0.4/30", "100.1.0.8/30", "100.1.0.16/30", "100.1.3.0/24"], exact: true },
      r4: { routes: ["100.2.0.0/30", "100.1.4.0/24", "100.1.0.16/30", "100.1.0.12/30"], exact: true },
      r5: { routes: ["100.2.0.0/30"], exact: true },
    })[d]!,
  // data-center-bgp: every router learns the eight server subnets; a server has its own and a default
  "data-center-bgp": (d) => {
    if (d.startsWith("server_")) return { routes: ["default"] };
    const servers = [
      "201.1.1.0/24",
      "201.1.2.0/24",
      "201.2.1.0/24",
      "201.2.2.0/24",
      "202.1.1.0/24",
      "202.1.2.0/24",
      "202.2.1.0/24",
      "202.2.2.0/24",
    ];
    return { routes: servers };
  },
};

const SEP = "@@kinda-diff@@";
const READ = (keys: string[]) =>
  [
    "hostname",
    "cat /etc/hosts",
    "cat /etc/resolv.conf",
    "ls -A /hostlab",
    "cat /var/log/startup.log",
    `for k in ${keys.join(" ")}; do printf '%s=%s\\n' "$k" "$(cat /proc/sys/$k 2>/dev/null || echo missing)"; done`,
    "ip -j addr",
    "ip -j -4 route",
    "grep -E ' /(shared|hostlab) ' /proc/mounts",
    "test -e /tmp/EOS && echo yes || echo no",
    "test -e /var/log/shared.log && echo yes || echo no",
    "for f in /etc/frr/daemons; do [ -e $f ] && stat -c '%n %U:%G %a' $f; done; true",
  ].join(`; echo ${SEP}; `);

interface Seen {
  hostname: string;
  hosts: string;
  resolv: string;
  hostlab: string[];
  log: string[];
  sysctls: Record<string, string>;
  ifaces: { ifname: string; address: string; addr_info: { family: string; local: string; prefixlen: number }[] }[];
  routes: string[];
  mounts: string;
  eos: string;
  sharedLog: string;
  owned: string;
}

async function readDevice(lab: string, device: string, keys: string[]): Promise<Seen> {
  const out = await kindaOk("exec", "--lab", lab, device, "--", "bash", "-c", READ(keys));
  const p = out.split(`${SEP}\n`);
  return {
    hostname: p[0]!.trim(),
    hosts: p[1]!,
    resolv: p[2]!,
    hostlab: p[3]!.split("\n").filter(Boolean).sort(),
    log: p[4]!.split("\n").filter((l) => l.startsWith("+")),
    sysctls: Object.fromEntries(
      p[5]!
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("=") as [string, string]),
    ),
    ifaces: JSON.parse(p[6]!) as Seen["ifaces"],
    routes: (JSON.parse(p[7]!) as { dst: string }[]).map((r) => r.dst),
    mounts: p[8]!,
    eos: p[9]!.trim(),
    sharedLog: p[10]!.trim(),
    owned: p[11]!.trim(),
  };
}

function sysctlsFor(e: DeviceExpect): Record<string, string> {
  return { ...SYSCTLS_COMMON, ...(e.ipv6 ? SYSCTLS_IPV6_ON : SYSCTLS_IPV6_OFF) };
}

/** Compares one device with its expectation; returns the differences (empty: same as Kathara). */
function diff(device: string, e: DeviceExpect, s: Seen): string[] {
  const d: string[] = [];
  const cmp = (what: string, why: string, want: unknown, got: unknown) => {
    if (JSON.stringify(want) !== JSON.stringify(got))
      d.push(`${device} ${what}: Kathara ${JSON.stringify(want)}, kinda ${JSON.stringify(got)} (${why})`);
  };
  cmp("hostname", WHY.hostname, device, s.hostname);
  cmp("/etc/hosts", WHY.hosts, e.hosts, s.hosts);
  cmp("/etc/resolv.conf", WHY.resolv, "", s.resolv);
  cmp("/hostlab", WHY.hostlab, e.hostlab, s.hostlab);
  cmp("start-up log", WHY.log, e.log, s.log);
  cmp("/tmp/EOS", WHY.eos, "yes", s.eos);
  cmp("/var/log/shared.log", WHY.log, e.sharedLog ? "yes" : "no", s.sharedLog);
  cmp("sysctls", `${WHY.sysctl}; ${WHY.ipv6Default}`, sysctlsFor(e), s.sysctls);
  const ifs = s.ifaces.filter((i) => i.ifname !== "lo");
  cmp(
    "interfaces in order",
    WHY.ifaces,
    e.ifaces,
    ifs.map((i) => i.ifname),
  );
  for (const [n, mac] of Object.entries(e.macs)) cmp(`${n} MAC`, WHY.macs, mac, ifs.find((i) => i.ifname === n)?.address);
  const v4 = ifs.flatMap((i) => i.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`));
  cmp("IPv4 addresses", WHY.addrs, [...e.addrs].sort(), v4.sort());
  const v6 = ifs.flatMap((i) => i.addr_info.filter((a) => a.family === "inet6").map((a) => a.local));
  if (!e.ipv6) cmp("IPv6 addresses (IPv6 off)", WHY.ipv6Default, [], v6);
  else if (!v6.some((a) => a.startsWith("fe80:"))) d.push(`${device}: IPv6 on but no fe80:: address on ${e.ifaces.join(",")}`);
  const sharedRw = /^\S+ \/shared \S+ rw[,\s]/m.test(s.mounts);
  const hostlab = / \/hostlab /.test(s.mounts);
  cmp("mounts /shared (rw) and /hostlab", WHY.shared, [true, true], [sharedRw, hostlab]);
  for (const [f, want] of Object.entries(e.owned ?? {})) cmp(`owner and mode of ${f}`, WHY.log, `${f} ${want}`, s.owned);
  return d;
}

function routesOk(e: DeviceExpect, s: Seen): boolean {
  const got = new Set(s.routes);
  if (!e.routes.every((r) => got.has(r))) return false;
  return !e.exactRoutes || got.size === e.routes.length;
}

export async function compareLab(dir: string, name: string, expect: Record<string, DeviceExpect>, convergeSeconds: number): Promise<void> {
  await kindaOk("up", dir, "--name", name, ...IMAGE_MAP_ARGS);
  try {
    const diffs: string[] = [];
    await Promise.all(
      Object.entries(expect).map(async ([device, e]) => {
        const keys = Object.keys(sysctlsFor(e));
        let seen = await readDevice(name, device, keys);
        // routes after convergence: FRR labs need their time
        await eventually(
          `${name}/${device} routes ${e.routes.join(" ")}${e.exactRoutes ? " (exactly)" : ""}`,
          convergeSeconds,
          async () => {
            seen = await readDevice(name, device, keys);
            return routesOk(e, seen);
          },
        );
        diffs.push(...diff(device, e, seen));
      }),
    );
    assert.deepEqual(diffs, [], `kinda differs from Kathara 3.8.3:\n${diffs.join("\n")}`);
  } finally {
    await kindaOk("down", name);
    await assertNothingLeft(name);
  }
}
