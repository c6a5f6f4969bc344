/*
 * A smart NIC's program (v1model, BMv2 simple_switch) for kinda's P4 NICs (a link's nic: kind p4):
 * it joins the NIC's two ports, 0 = the outer interface (toward the device) and 1 = the inner one
 * (toward the node), and drops IPv4 packets whose destination is in table MyIngress.acl.
 *   table_add MyIngress.acl MyIngress.drop 10.244.1.5 =>
 * stops traffic to that address in both directions through the NIC; everything else passes.
 *
 * Compile (the kathara/p4 image carries p4c):
 *   docker run --rm -v "$PWD/examples/p4:/p4" kathara/p4 \
 *     p4c --target bmv2 --arch v1model -o /p4/build --p4runtime-files /p4/build/nic_filter.p4info.txt /p4/nic_filter.p4
 */
#include <core.p4>
#include <v1model.p4>

header ethernet_t {
    bit<48> dstAddr;
    bit<48> srcAddr;
    bit<16> etherType;
}

header ipv4_t {
    bit<4>  version;
    bit<4>  ihl;
    bit<8>  diffserv;
    bit<16> totalLen;
    bit<16> identification;
    bit<3>  flags;
    bit<13> fragOffset;
    bit<8>  ttl;
    bit<8>  protocol;
    bit<16> hdrChecksum;
    bit<32> srcAddr;
    bit<32> dstAddr;
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
    table acl {
        key = { hdr.ipv4.dstAddr: exact; }
        actions = { drop; NoAction; }
        size = 1024;
        default_action = NoAction();
    }
    apply {
        // the other port: outer (0) to inner (1), inner to outer
        if (standard_metadata.ingress_port == 0) {
            standard_metadata.egress_spec = 1;
        } else {
            standard_metadata.egress_spec = 0;
        }
        if (hdr.ipv4.isValid()) {
            acl.apply();
        }
    }
}

control MyEgress(inout headers hdr, inout metadata meta, inout standard_metadata_t standard_metadata) {
    apply { }
}

control MyComputeChecksum(inout headers hdr, inout metadata meta) {
    apply { }
}

control MyDeparser(packet_out packet, in headers hdr) {
    apply {
        packet.emit(hdr.ethernet);
        packet.emit(hdr.ipv4);
    }
}

V1Switch(MyParser(), MyVerifyChecksum(), MyIngress(), MyEgress(), MyComputeChecksum(), MyDeparser()) main;
