/** Address arithmetic, in one place, on ipaddr.js (no hand-written bit maths). */
import ipaddr from "ipaddr.js";

export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

export function isCidr(s: string): boolean {
  try {
    ipaddr.parseCIDR(s);
    return true;
  } catch {
    return false;
  }
}

export function isIp(s: string): boolean {
  return ipaddr.isValid(s);
}

export function parseCidr(s: string): Cidr {
  return ipaddr.parseCIDR(s) as Cidr;
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
