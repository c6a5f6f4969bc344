/*
 * IPv4 forwarding by longest-prefix match (v1model, BMv2 simple_switch), for kinda's P4 switches.
 * Table MyIngress.ipv4_lpm: key hdr.ipv4.dstAddr (lpm); action MyIngress.ipv4_forward(dstAddr,
 * port) sets the next hop's MAC (the source MAC is kept) and the egress port, decrements the
 * TTL; everything else is dropped (ARP too: the switch's kernel is kept off its ports, so kinda
 * gives its neighbours a static entry for the gateway's MAC, and neighbours across it get static
 * entries, see examples/p4.yaml).
 * With routing static, `lpm: true` on the switch makes kinda write this table's entries from the
 * route plan (examples/p4-tree.yaml, the seed's tree; print them: kinda p4-entries FILE [DEVICE]).
 *
 * Compile (the kathara/p4 image carries p4c):
 *   docker run --rm -v "$PWD/examples/p4:/p4" kathara/p4 \
 *     p4c --target bmv2 --arch v1model -o /p4/build --p4runtime-files /p4/build/ipv4_lpm.p4info.txt /p4/ipv4_lpm.p4
 */
#include <core.p4>
#include <v1model.p4>

typedef bit<48> macAddr_t;
typedef bit<32> ip4Addr_t;

header ethernet_t {
    macAddr_t dstAddr;
    macAddr_t srcAddr;
    bit<16>   etherType;
}

header ipv4_t {
    bit<4>    version;
    bit<4>    ihl;
    bit<8>    diffserv;
    bit<16>   totalLen;
    bit<16>   identification;
    bit<3>    flags;
    bit<13>   fragOffset;
    bit<8>    ttl;
    bit<8>    protocol;
    bit<16>   hdrChecksum;
    ip4Addr_t srcAddr;
    ip4Addr_t dstAddr;
}

struct metadata { }

struct headers {
    ethernet_t ethernet;
    ipv4_t     ipv4;
}

parser MyParser(packet_in packet, out headers hdr, inout metadata meta, inout standard_metadata_t standard_metadata) {
    state start {
        packet.extract(hdr.ethernet);
        transition select(hdr.ethernet.etherType) {
            0x0800: parse_ipv4;
            default: accept;
        }
    }
    state parse_ipv4 {
        packet.extract(hdr.ipv4);
        transition accept;
    }
}

control MyVerifyChecksum(inout headers hdr, inout metadata meta) {
    apply { }
}

control MyIngress(inout headers hdr, inout metadata meta, inout standard_metadata_t standard_metadata) {
    action drop() {
        mark_to_drop(standard_metadata);
    }
    action ipv4_forward(macAddr_t dstAddr, bit<9> port) {
        standard_metadata.egress_spec = port;
        // the source MAC stays the sender's: each link of a lab is a learning bridge, and a frame
        // sent with its next hop's MAC as source (p4lang's tutorial idiom, srcAddr = dstAddr)
        // teaches that bridge the next hop sits behind the switch when the sender addressed the
        // next hop directly (examples/p4.yaml): frames to it are then dropped
        hdr.ethernet.dstAddr = dstAddr;
        hdr.ipv4.ttl = hdr.ipv4.ttl - 1;
    }
    table ipv4_lpm {
        key = { hdr.ipv4.dstAddr: lpm; }
        actions = { ipv4_forward; drop; NoAction; }
        size = 1024;
        default_action = drop();
    }
    apply {
        if (hdr.ipv4.isValid() && hdr.ipv4.ttl > 1) {
            ipv4_lpm.apply();
        } else {
            drop();
        }
    }
}

control MyEgress(inout headers hdr, inout metadata meta, inout standard_metadata_t standard_metadata) {
    apply { }
}

control MyComputeChecksum(inout headers hdr, inout metadata meta) {
    apply {
        update_checksum(
            hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.diffserv, hdr.ipv4.totalLen, hdr.ipv4.identification,
              hdr.ipv4.flags, hdr.ipv4.fragOffset, hdr.ipv4.ttl, hdr.ipv4.protocol, hdr.ipv4.srcAddr, hdr.ipv4.dstAddr },
            hdr.ipv4.hdrChecksum,
            HashAlgorithm.csum16);
    }
}

control MyDeparser(packet_out packet, in headers hdr) {
    apply {
        packet.emit(hdr.ethernet);
        packet.emit(hdr.ipv4);
    }
}

V1Switch(MyParser(), MyVerifyChecksum(), MyIngress(), MyEgress(), MyComputeChecksum(), MyDeparser()) main;
