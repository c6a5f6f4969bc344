/**
 * Routing protocols written by kinda: with `routing: ospf` or `routing: bgp` every router of the
 * topology runs FRR with configuration files generated here from the graph. Pure: from the
 * topology to file texts (kinda stages them into the device and starts FRR from them).
 *
 * OSPF: one area (0), every link between routers point-to-point, every other interface passive
 * (hosts, Kubernetes nodes: their subnets announced, no adjacency there), hello 1 s and dead 3 s,
 * SPF throttled to start at once.
 * BGP: unnumbered eBGP on a Clos as RFC 7938 lays out: a session on each link between routers
 * (over IPv6 link-local addresses, `neighbor IF interface`), one private AS per leaf (a router
 * with hosts or nodes below it), one per group of routers of a middle tier that serve the same
 * leaves (a fat tree's pod), and one for the top tier; ECMP with `maximum-paths` and
 * `bestpath as-path multipath-relax`; keepalive 1 s, hold 3 s, connect retry 5 s; connected subnets redistributed.
 * With encapsulation none the nodes' pod routes, installed on the node's router when the cluster
 * assigns them, are redistributed from the kernel (OSPF external, BGP), so the fabric learns them.
 * BFD (`bfd: true`): a BFD session on each link between routers, for sub-second detection of a
 * failure that does not drop the carrier.
 */
import { hostOf, networkOf } from "../core/addr.js";
import { STAGE_MOUNT } from "../core/defaults.js";
import { isNode, type TopologySpec } from "../model/spec.js";

export type Protocol = "ospf" | "bgp";

/** One interface of a router as compile numbered it: ethN, its address, and who is at the other end. */
export interface RouterPort {
  ifname: string;
  address: string;
  /** Another router (a session or adjacency), or a host, a node, a segment (passive). */
  peerIsRouter: boolean;
}

export interface FrrFiles {
  /** File name in /etc/frr and its text. */
  files: { name: string; text: string }[];
  /** For messages and `kinda expand`: the router's AS (BGP). */
  asn?: number;
}

/** Devices that run the protocol: routers (and plain switches, which run as routers). */
export function runsFrr(kind: string): boolean {
  return kind === "router" || kind === "switch";
}

/** The daemons FRR's init starts (zebra and watchfrr always). */
function daemons(protocol: Protocol, bfd: boolean): string {
  const on = new Set([protocol === "ospf" ? "ospfd" : "bgpd", ...(bfd ? ["bfdd"] : [])]);
  const all = [
    "bgpd",
    "ospfd",
    "ospf6d",
    "ripd",
    "ripngd",
    "isisd",
    "pimd",
    "ldpd",
    "nhrpd",
    "eigrpd",
    "babeld",
    "sharpd",
    "pbrd",
    "bfdd",
    "fabricd",
    "vrrpd",
  ];
  return [
    "# written by kinda (routing: " + protocol + ")",
    ...all.map((d) => `${d}=${on.has(d) ? "yes" : "no"}`),
    "vtysh_enable=yes",
    'zebra_options="  -A 127.0.0.1 -s 90000000"',
    'bgpd_options="   -A 127.0.0.1"',
    'ospfd_options="  -A 127.0.0.1"',
    'bfdd_options="   -A 127.0.0.1"',
    "",
  ].join("\n");
}

/**
 * Each router's AS for BGP. Tier 0 are the leaves (routers with a host, a node or a segment
 * linked); a router at distance d from the nearest leaf is in tier d. The top tier shares one AS
 * (65000); each middle tier has one AS per group of its routers joined through the tiers below (a
 * fat tree's pod: 65001, ...); every leaf has its own (65100, ...).
 */
export function bgpAsns(spec: TopologySpec): Map<string, number> {
  const kind = new Map(spec.devices.map((d) => [d.name, d.kind]));
  const routers = spec.devices.filter((d) => runsFrr(d.kind)).map((d) => d.name);
  const isRouter = (n: string) => runsFrr(kind.get(n) ?? "");
  const adj = new Map<string, string[]>(routers.map((r) => [r, []]));
  const below = new Set<string>();
  for (const l of spec.links) {
    const [a, b] = l.endpoints;
    if (isRouter(a) && isRouter(b)) {
      adj.get(a)!.push(b);
      adj.get(b)!.push(a);
    } else {
      if (isRouter(a)) below.add(a);
      if (isRouter(b)) below.add(b);
    }
  }
  for (const s of spec.segments ?? []) if (isRouter(s.device)) below.add(s.device);
  // a fabric with no router above hosts at all (one router): it is a leaf
  const leaves = routers.filter((r) => below.has(r) || adj.get(r)!.length === 0);
  const tier = new Map<string, number>(leaves.map((l) => [l, 0]));
  const queue = [...leaves];
  for (let k = 0; k < queue.length; k++) {
    const u = queue[k]!;
    for (const v of adj.get(u)!)
      if (!tier.has(v)) {
        tier.set(v, tier.get(u)! + 1);
        queue.push(v);
      }
  }
  for (const r of routers) if (!tier.has(r)) tier.set(r, 0);
  const top = Math.max(0, ...tier.values());
  const asn = new Map<string, number>();
  // private 32-bit ASes would do too; 2-byte ones read better: spines 65000.., leaves from 65100
  leaves.forEach((l, i) => asn.set(l, 65100 + i));
  let next = 65001;
  for (let t = 1; t <= top; t++) {
    const inTier = routers.filter((r) => tier.get(r) === t);
    if (t === top) {
      for (const r of inTier) asn.set(r, 65000);
      continue;
    }
    // groups: routers of tier t joined through routers of tiers below t
    const seen = new Set<string>();
    for (const r of inTier) {
      if (seen.has(r)) continue;
      const stack = [r];
      seen.add(r);
      const group: string[] = [];
      while (stack.length) {
        const u = stack.pop()!;
        if (tier.get(u) === t) group.push(u);
        for (const v of adj.get(u)!)
          if (!seen.has(v) && tier.get(v)! <= t) {
            seen.add(v);
            stack.push(v);
          }
      }
      const as = next++;
      for (const g of group) asn.set(g, as);
    }
  }
  return asn;
}

function ospfConf(name: string, ports: readonly RouterPort[], o: { bfd: boolean; pods: boolean; subnets: readonly string[] }): string {
  const routerId = hostOf(ports[0]?.address ?? "0.0.0.1/32");
  const lines = [`hostname ${name}`, "log file /var/log/frr/ospfd.log", "!"];
  for (const p of ports.filter((x) => x.peerIsRouter))
    lines.push(
      `interface ${p.ifname}`,
      " ip ospf network point-to-point",
      " ip ospf hello-interval 1",
      " ip ospf dead-interval 3",
      ...(o.bfd ? [" ip ospf bfd"] : []),
      "!",
    );
  lines.push("router ospf", ` ospf router-id ${routerId}`, " timers throttle spf 0 50 500", " passive-interface default");
  for (const p of ports.filter((x) => x.peerIsRouter)) lines.push(` no passive-interface ${p.ifname}`);
  for (const s of o.subnets) lines.push(` network ${s} area 0.0.0.0`);
  if (o.pods) lines.push(" redistribute kernel");
  lines.push("!", "");
  return lines.join("\n");
}

function bgpConf(name: string, asn: number, ports: readonly RouterPort[], o: { bfd: boolean; pods: boolean }): string {
  const routerId = hostOf(ports[0]?.address ?? "0.0.0.1/32");
  const fabric = ports.filter((x) => x.peerIsRouter);
  const lines = [
    `hostname ${name}`,
    "log file /var/log/frr/bgpd.log",
    "!",
    `router bgp ${asn}`,
    ` bgp router-id ${routerId}`,
    " no bgp ebgp-requires-policy",
    " no bgp network import-check",
    " bgp bestpath as-path multipath-relax",
    " timers bgp 1 3",
    " neighbor fabric peer-group",
    " neighbor fabric remote-as external",
    " neighbor fabric advertisement-interval 0",
    // a session lost with its cable retries every 5 s, not after FRR's default 120 s
    " neighbor fabric timers connect 5",
    ...(o.bfd ? [" neighbor fabric bfd"] : []),
    ...fabric.map((p) => ` neighbor ${p.ifname} interface peer-group fabric`),
    " !",
    " address-family ipv4 unicast",
    "  redistribute connected",
    ...(o.pods ? ["  redistribute kernel"] : []),
    "  maximum-paths 64",
    " exit-address-family",
    "!",
    "",
  ];
  return lines.join("\n");
}

/**
 * zebra: routes go into the kernel with their next hops written out, not as kernel nexthop
 * objects (`nhid`). With nexthop objects, FRR 8.4's zebra lost track of them after a cut in the
 * irregular fabric: the kernel refused its replaced multipath routes ("Nexthop id does not
 * exist"), zebra kept them as installed, and the leaf had no route to a whole leaf's hosts
 * while OSPF had found the detour (seen in test/integration/routing.test.ts, cut s3-l2).
 */
function zebraConf(name: string): string {
  return [`hostname ${name}`, "log file /var/log/frr/zebra.log", "no zebra nexthop kernel enable", "!", ""].join("\n");
}

/**
 * The FRR files of router `name`: daemons, zebra.conf, ospfd.conf or bgpd.conf (and bfdd.conf).
 * `subnets`: every subnet the router is on (its links, its node links, its segments).
 */
export function frrFiles(
  spec: TopologySpec,
  protocol: Protocol,
  name: string,
  ports: readonly RouterPort[],
  subnets: readonly string[],
  asns?: Map<string, number>,
): FrrFiles {
  const bfd = spec.bfd === true;
  // pod routes on the node's router, redistributed: only with native routing and a node below it
  const pods =
    spec.encapsulation === "none" &&
    spec.links.some((l) => l.endpoints.includes(name) && l.endpoints.some((e) => e !== name && isNode(kindOf(spec, e))));
  const files = [
    { name: "daemons", text: daemons(protocol, bfd) },
    { name: "zebra.conf", text: zebraConf(name) },
    // per-daemon files, not the integrated frr.conf
    { name: "vtysh.conf", text: "! written by kinda: per-daemon configuration files\n" },
  ];
  let asn: number | undefined;
  if (protocol === "ospf") files.push({ name: "ospfd.conf", text: ospfConf(name, ports, { bfd, pods, subnets }) });
  else {
    asn = (asns ?? bgpAsns(spec)).get(name)!;
    files.push({ name: "bgpd.conf", text: bgpConf(name, asn, ports, { bfd, pods }) });
  }
  if (bfd) files.push({ name: "bfdd.conf", text: `hostname ${name}\n!\n` });
  return { files, ...(asn !== undefined ? { asn } : {}) };
}

function kindOf(spec: TopologySpec, name: string): TopologySpec["devices"][number]["kind"] {
  return spec.devices.find((d) => d.name === name)?.kind ?? "host";
}

/** Every subnet device `name` is on: its links (node links included) and segments. */
export function subnetsOf(spec: TopologySpec, name: string): string[] {
  return [
    ...spec.links.filter((l) => l.endpoints.includes(name) && l.addresses).map((l) => networkOf(l.addresses![0])),
    ...(spec.segments ?? []).filter((s) => s.device === name).map((s) => networkOf(s.address)),
  ];
}

/** The name a generated file is staged under (the device's stage folder, STAGE_MOUNT). */
export const FRR_STAGE_PREFIX = "frr-";
export const stagedFrrName = (file: string) => `${FRR_STAGE_PREFIX}${file}`;

/** The steps that start FRR from the staged files (in the device, after its addresses). */
export function frrStartSteps(files: readonly { name: string }[]): string[] {
  return [
    "mkdir -p /etc/frr /var/log/frr",
    ...files.map((f) => `cp ${STAGE_MOUNT}/${stagedFrrName(f.name)} /etc/frr/${f.name}`),
    // FRR's own files must not win over the generated ones (Debian's integrated frr.conf)
    "rm -f /etc/frr/frr.conf",
    "chown -R frr:frr /etc/frr /var/log/frr 2>/dev/null || true",
    "/etc/init.d/frr start",
  ];
}
