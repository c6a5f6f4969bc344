/** Address checks and arithmetic, in one place, on ipaddr.js (no hand-written bit maths). */
import { isIPv4, isIPv6 } from "node:net";
import ipaddr from "ipaddr.js";

export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * Canonical text only: ipaddr.js alone also takes "10.1", "010.0.0.1", "0xa.0.0.1", "fe80::1%eth0"
 * and "/024", which iproute2 and Docker read differently or not at all. IPv4 is four decimal
 * octets without leading zeros; IPv6 is RFC 4291 text (either case, "::", dotted tail) without a
 * zone; a prefix length is decimal without leading zeros, at most 32 or 128.
 */
export function isIp(s: string): boolean {
  return typeof s === "string" && (isIPv4(s) || (isIPv6(s) && !s.includes("%"))) && ipaddr.isValid(s);
}

const PREFIX_LEN = /^(0|[1-9][0-9]{0,2})$/;

export function isCidr(s: string): boolean {
  if (typeof s !== "string") return false;
  const slash = s.indexOf("/");
  if (slash < 0) return false;
  const addr = s.slice(0, slash);
  const len = s.slice(slash + 1);
  if (!isIp(addr) || !PREFIX_LEN.test(len)) return false;
  if (Number(len) > (isIPv4(addr) ? 32 : 128)) return false;
  try {
    ipaddr.parseCIDR(s);
    return true;
  } catch {
    return false;
  }
}

/** Is `s` an IPv4 CIDR (canonical, see isCidr)? */
export function isIpv4Cidr(s: string): boolean {
  return isCidr(s) && isIPv4(s.slice(0, s.indexOf("/")));
}

/** Prefix length of a CIDR ("10.0.0.0/24" -> 24). */
export function prefixLength(cidr: string): number {
  return parseCidr(cidr)[1];
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/**
 * Why `mac` cannot be an interface's address, or undefined when it can: six hex pairs with
 * colons (either case), not all-zero, not multicast/broadcast (lowest bit of the first octet).
 */
export function macProblem(mac: string): string | undefined {
  if (!MAC.test(mac)) return "is not six hex pairs separated by colons";
  if (/^(00:){5}00$/.test(mac)) return "is all zeros, which no interface may have";
  if (parseInt(mac.slice(0, 2), 16) & 1) return "is a multicast address (the lowest bit of the first octet is set); use a unicast one";
  return undefined;
}

export function parseCidr(s: string): Cidr {
  // by family: ipaddr.parseCIDR tries IPv6 first and throws for every IPv4 CIDR (a third of the static planner's time in a 200-device lab)
  return (s.includes(":") ? ipaddr.IPv6.parseCIDR(s) : ipaddr.IPv4.parseCIDR(s)) as Cidr;
}

/** "10.0.1.2/24" -> "10.0.1.2". */
export function hostOf(cidr: string): string {
  return parseCidr(cidr)[0].toString();
}

/** "10.0.1.2/24" -> "10.0.1.0/24". */
export function networkOf(cidr: string): string {
  const [addr, len] = parseCidr(cidr);
  const net = addr.kind() === "ipv4" ? ipaddr.IPv4.networkAddressFromCIDR(cidr) : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return `${net.toString()}/${len}`;
}

/** Is the address (or the first address of a CIDR) inside `range`? */
export function contains(range: string, addrOrCidr: string): boolean {
  const r = parseCidr(range);
  const a = addrOrCidr.includes("/") ? parseCidr(addrOrCidr)[0] : ipaddr.parse(addrOrCidr);
  if (a.kind() !== r[0].kind()) return false;
  return a.match(r);
}

/** First and last address of a CIDR's network as numbers, with its family: cheap to compare many times. */
export function addressRange(cidr: string): { family: "ipv4" | "ipv6"; first: bigint; last: bigint } {
  const [addr, len] = parseCidr(cidr);
  const bits = addr.kind() === "ipv4" ? 32 : 128;
  const value = addr.toByteArray().reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  const host = (1n << BigInt(bits - len)) - 1n;
  return { family: addr.kind(), first: value & ~host, last: (value & ~host) | host };
}

/** addressRange with its answers kept (a planner that asks about the same few hundred ranges again and again). */
export function memoAddressRange(): typeof addressRange {
  const seen = new Map<string, ReturnType<typeof addressRange>>();
  return (cidr) => seen.get(cidr) ?? seen.set(cidr, addressRange(cidr)).get(cidr)!;
}

/** Do two CIDRs share any address? */
export function overlaps(a: string, b: string): boolean {
  const [na, la] = parseCidr(networkOf(a));
  const [nb, lb] = parseCidr(networkOf(b));
  if (na.kind() !== nb.kind()) return false;
  return la <= lb ? nb.match([na, la] as never) : na.match([nb, lb] as never);
}

/** The n-th address (0-based) of an IPv4 range, e.g. nthAddress("100.64.0.0/16", 5) = "100.64.0.5". */
export function nthAddress(range: string, n: number): string {
  const [net, len] = parseCidr(networkOf(range));
  if (net.kind() !== "ipv4") throw new Error(`nthAddress: IPv4 only (${range})`);
  const size = 2 ** (32 - len);
  if (n < 0 || n >= size) throw new Error(`address #${n} is outside ${range} (${size} addresses)`);
  const bytes = (net as ipaddr.IPv4).toByteArray();
  const v = bytes.reduce((acc, b) => acc * 256 + b, 0) + n;
  return ipaddr.fromByteArray([3, 2, 1, 0].map((k) => Math.floor(v / 256 ** k) % 256)).toString();
}

/** The shortest prefix a covering range may have: a /8 of IPv4, a /16 of IPv6 (never a default route's reach). */
const WIDEST_COVER = { ipv4: 8, ipv6: 16 } as const;

/** The smallest CIDR holding the range first..last (numbers of a family of `bits` bits). */
function supernet(first: bigint, last: bigint, bits: number): string {
  let len = bits;
  while (len > 0 && first >> BigInt(bits - len) !== last >> BigInt(bits - len)) len--;
  const net = (first >> BigInt(bits - len)) << BigInt(bits - len);
  const bytes = Array.from({ length: bits / 8 }, (_, k) => Number((net >> BigInt(bits - 8 * (k + 1))) & 0xffn));
  return `${ipaddr.fromByteArray(bytes).toString()}/${len}`;
}

/**
 * The fewest, smallest prefixes that cover these CIDRs, none wider than a /8 (IPv4) or /16 (IPv6):
 * the CIDRs grouped by the /8 (/16) they lie in, each group's smallest common supernet. E.g.
 * 10.0.0.0/30 and 10.0.1.4/30 -> 10.0.0.0/23; with 192.168.0.0/24 beside them, two prefixes.
 * In the order of the groups' first CIDR.
 */
export function coveringPrefixes(cidrs: readonly string[], rangeOf: typeof addressRange = addressRange): string[] {
  const groups = new Map<string, { first: bigint; last: bigint; bits: number }>();
  for (const c of cidrs) {
    const r = rangeOf(c);
    const bits = r.family === "ipv4" ? 32 : 128;
    const key = `${r.family} ${r.first >> BigInt(bits - WIDEST_COVER[r.family])}`;
    const g = groups.get(key);
    if (!g) groups.set(key, { first: r.first, last: r.last, bits });
    else {
      if (r.first < g.first) g.first = r.first;
      if (r.last > g.last) g.last = r.last;
    }
  }
  return [...groups.values()].map((g) => supernet(g.first, g.last, g.bits));
}
