/**
 * Real libbpf logs of failed loads, captured on kernel 6.18 with libbpf 1.1
 * through src/bpf/libbpf.ts's print callback (one array entry per printed
 * line). libbpf's ELF and relocation chatter is left out; every other line is
 * verbatim. How each was produced is said above it; the tiny programs were:
 *   cmp:    __u64 *v = bpf_map_lookup_elem(&m, &k); ... asm("if %[a] > %[b] goto +0" :: "r"(v), "r"((void *)(long)skb->data));
 *   helper: bpf_printk("len %u", skb->len);
 *   core:   a preserve_access_index struct sk_buff read with bpf_core_field_exists
 *   long:   300 unrolled arithmetic steps, then an unchecked read of skb->data
 */

/** bpf/flow.bpf.o of 9018d61 loaded by the agent as uid 65534 with ambient CAP_BPF + CAP_NET_ADMIN: `skb->data_end - skb->data` needs CAP_PERFMON. */
export const pointerSubtraction = {
  errno: 13,
  log: [
    "libbpf: prog 'flow_ingress': BPF program load failed: Permission denied",
    "libbpf: prog 'flow_ingress': -- BEGIN PROG LOAD LOG --",
    "0: R1=ctx() R10=fp0",
    "; int flow_ingress(struct __sk_buff *skb) @ flow.bpf.c:156",
    "0: (bf) r6 = r1                       ; R1=ctx() R6=ctx()",
    "; __u32 linear = skb->data_end - skb->data; @ flow.bpf.c:130",
    "1: (61) r3 = *(u32 *)(r6 +76)         ; R3=pkt(r=0) R6=ctx()",
    "2: (61) r1 = *(u32 *)(r6 +80)         ; R1=pkt_end() R6=ctx()",
    "3: (bf) r4 = r1                       ; R1=pkt_end() R4=pkt_end()",
    "4: (1f) r4 -= r3",
    "R4 pointer -= pointer prohibited",
    "processed 5 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0",
    "-- END PROG LOAD LOG --",
    "libbpf: prog 'flow_ingress': failed to load: -13",
    "libbpf: failed to load object 'netflow'",
  ],
};

/** The NETFLOW_TEST_VERIFIER_REJECTS build of bpf/flow.bpf.c (9018d61) loaded as root: an unchecked packet read; two complaint lines. */
export const packetAccess = {
  errno: 13,
  log: [
    "libbpf: prog 'flow_ingress': BPF program load failed: Permission denied",
    "libbpf: prog 'flow_ingress': -- BEGIN PROG LOAD LOG --",
    "0: R1=ctx() R10=fp0",
    "; int flow_ingress(struct __sk_buff *skb) @ flow.bpf.c:156",
    "0: (bf) r6 = r1                       ; R1=ctx() R6=ctx()",
    "; __u32 linear = skb->data_end - skb->data; @ flow.bpf.c:130",
    "1: (61) r1 = *(u32 *)(r6 +76)         ; R1=pkt(r=0) R6=ctx()",
    "2: (61) r3 = *(u32 *)(r6 +80)         ; R3=pkt_end() R6=ctx()",
    "3: (1f) r3 -= r1                      ; R1=pkt(r=0) R3=scalar()",
    "4: (67) r3 <<= 32                     ; R3=scalar(smax=0x7fffffff00000000,umax=0xffffffff00000000,smin32=0,smax32=umax32=0,var_off=(0x0; 0xffffffff00000000))",
    "5: (77) r3 >>= 32                     ; R3=scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))",
    "; if (linear < PULL_BYTES && skb->len > linear) @ flow.bpf.c:131",
    "6: (25) if r3 > 0x7f goto pc+8        ; R3=scalar(smin=smin32=0,smax=umax=smax32=umax32=127,var_off=(0x0; 0x7f))",
    "7: (61) r2 = *(u32 *)(r6 +0)          ; R2=scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff)) R6=ctx()",
    "8: (3d) if r3 >= r2 goto pc+6         ; R2=scalar(smin=umin=umin32=1,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff)) R3=scalar(smin=smin32=0,smax=umax=smax32=umax32=127,var_off=(0x0; 0x7f))",
    "9: (b7) r1 = 128                      ; R1=128",
    "; bpf_skb_pull_data(skb, skb->len < PULL_BYTES ? skb->len : PULL_BYTES); @ flow.bpf.c:132",
    "10: (2d) if r1 > r2 goto pc+1         ; R1=128 R2=scalar(smin=umin=umin32=128,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))",
    "11: (b7) r2 = 128                     ; R2=128",
    "12: (bf) r1 = r6                      ; R1=ctx() R6=ctx()",
    "13: (85) call bpf_skb_pull_data#39    ; R0=scalar()",
    "; if (*(__u8 *)(long)skb->data == 0xff) @ flow.bpf.c:136",
    "14: (61) r1 = *(u32 *)(r6 +76)        ; R1=pkt(r=0) R6=ctx()",
    "15: (bf) r3 = r1                      ; R1=pkt(r=0) R3=pkt(r=0)",
    "16: (71) r1 = *(u8 *)(r3 +0)",
    "invalid access to packet, off=0 size=1, R3(id=0,off=0,r=0)",
    "R3 offset is outside of the packet",
    "processed 17 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0",
    "-- END PROG LOAD LOG --",
    "libbpf: prog 'flow_ingress': failed to load: -13",
    "libbpf: failed to load object 'netflow'",
  ],
};

/** A map value pointer compared with a packet pointer (`if r0 > r1`), loaded as uid 65534 with CAP_BPF + CAP_NET_ADMIN. */
export const pointerComparison = {
  errno: 13,
  log: [
    "libbpf: prog 'cmp': BPF program load failed: Permission denied",
    "libbpf: prog 'cmp': -- BEGIN PROG LOAD LOG --",
    "0: R1=ctx() R10=fp0",
    "; int cmp(struct __sk_buff *skb) @ cmp.bpf.c:5",
    "0: (bf) r6 = r1                       ; R1=ctx() R6=ctx()",
    "1: (b7) r1 = 0                        ; R1=0",
    "; __u32 k = 0; @ cmp.bpf.c:7",
    "2: (63) *(u32 *)(r10 -4) = r1         ; R1=0 R10=fp0 fp-8=0000????",
    "3: (bf) r2 = r10                      ; R2=fp0 R10=fp0",
    ";  @ cmp.bpf.c:0",
    "4: (07) r2 += -4                      ; R2=fp-4",
    "; __u64 *v = bpf_map_lookup_elem(&m, &k); @ cmp.bpf.c:8",
    "5: (18) r1 = 0x0                      ; R1=map_ptr(map=m,ks=4,vs=8)",
    "7: (85) call bpf_map_lookup_elem#1    ; R0=map_value(map=m,ks=4,vs=8)",
    "; if (!v) return 0; @ cmp.bpf.c:9",
    "8: (15) if r0 == 0x0 goto pc+2        ; R0=map_value(map=m,ks=4,vs=8)",
    "; void *data = (void *)(long)skb->data; @ cmp.bpf.c:10",
    "9: (61) r1 = *(u32 *)(r6 +76)         ; R1=pkt(r=0) R6=ctx()",
    "; asm volatile(\"if %[a] > %[b] goto +0\" :: [a]\"r\"(v), [b]\"r\"(data)); @ cmp.bpf.c:12",
    "10: (2d) if r0 > r1 goto pc+0",
    "R1 pointer comparison prohibited",
    "processed 10 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0",
    "-- END PROG LOAD LOG --",
    "libbpf: prog 'cmp': failed to load: -13",
    "libbpf: failed to load object 'sample'",
  ],
};

/** bpf_printk (bpf_trace_printk) in a TC program, loaded as uid 65534 with CAP_BPF + CAP_NET_ADMIN: EINVAL, not EACCES. */
export const perfmonHelper = {
  errno: 22,
  log: [
    "libbpf: prog 'helper': BPF program load failed: Invalid argument",
    "libbpf: prog 'helper': -- BEGIN PROG LOAD LOG --",
    "0: R1=ctx() R10=fp0",
    "; bpf_printk(\"len %u\", skb->len);  /* bpf_trace_printk: a CAP_PERFMON helper */ @ helper.bpf.c:6",
    "0: (61) r3 = *(u32 *)(r1 +0)          ; R1=ctx() R3=scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))",
    "1: (18) r1 = 0x0                      ; R1=map_value(map=sample.rodata,ks=4,vs=7)",
    "3: (b7) r2 = 7                        ; R2=7",
    "4: (85) call bpf_trace_printk#6",
    "program of this type cannot use helper bpf_trace_printk#6",
    "processed 4 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0",
    "-- END PROG LOAD LOG --",
    "libbpf: prog 'helper': failed to load: -22",
    "libbpf: failed to load object 'sample'",
  ],
};

/** A CO-RE object loaded as root with /sys/kernel/btf hidden (a tmpfs over it): libbpf fails before any program reaches the verifier; errno ESRCH. */
export const noKernelBtf = {
  errno: 3,
  log: [
    "libbpf: failed to find valid kernel BTF",
    "libbpf: Error loading vmlinux BTF: -3",
    "libbpf: failed to load object 'sample'",
  ],
};

/** A program refused after >8 KiB of log, through src/bpf/libbpf.ts's 8 KiB print buffer: the copy ends mid-line with no END marker (middle lines elided here). */
export const cutShort = {
  errno: 13,
  log: [
    "libbpf: prog 'long_reject': BPF program load failed: Permission denied",
    "libbpf: prog 'long_reject': -- BEGIN PROG LOAD LOG --",
    "0: R1=ctx() R10=fp0",
    "; __u32 acc = skb->len; @ long.bpf.c:6",
    "0: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2=scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))",
    "; if (acc & (1u << (i % 32))) acc = acc * 3 + i; else acc ^= i; @ long.bpf.c:9",
    "58: (27) r2 *= 3                      ; R2=scalar(smin=umin=1629,smax=umax=0x19a0ffffecbc,var_off=(0x0; 0x1fffffffffff))",
    "59: (07) r2 += 7                      ; R2=scalar(smin=umin=1636,smax=umax=0x19a0ffffecc3,var_off=(0x",
    "libbpf: prog 'long_reject': failed to load: -13",
    "libbpf: failed to load object 'sample'",
  ],
};

/** bpf/flow.bpf.o loaded as uid 65534 with no capabilities: libbpf's probe program is refused before anything else. */
export const noPrivilege = {
  errno: 1,
  log: [
    "libbpf: Error in bpf_object__probe_loading():Operation not permitted(1). Couldn't load trivial BPF program. Make sure your kernel supports BPF (CONFIG_BPF_SYSCALL=y) and/or that RLIMIT_MEMLOCK is set to big enough value.",
    "libbpf: failed to load object 'netflow'",
  ],
};

/** The comparison sample through `bpftool -d prog load` (verifier log level 2, which adds timing and stack lines); the head of the log elided. */
export const pointerComparisonLevel2 = {
  errno: 13,
  log: [
    "libbpf: prog 'cmp': BPF program load failed: Permission denied",
    "libbpf: prog 'cmp': -- BEGIN PROG LOAD LOG --",
    "9: (61) r1 = *(u32 *)(r6 +76)         ; R1=pkt(r=0) R6=ctx()",
    "; asm volatile(\"if %[a] > %[b] goto +0\" :: [a]\"r\"(v), [b]\"r\"(data)); @ cmp.bpf.c:12",
    "10: (2d) if r0 > r1 goto pc+0",
    "R1 pointer comparison prohibited",
    "verification time 107 usec",
    "stack depth 8",
    "processed 10 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 mark_read 0",
    "-- END PROG LOAD LOG --",
    "libbpf: prog 'cmp': failed to load: -13",
    "libbpf: failed to load object 'cmp.bpf.o'",
  ],
};

/**
 * The long program again, with the whole log in libbpf's print (a buffer that fits): past 400
 * lines only the last are kept, so the block has lost its BEGIN line (its last 12 lines here).
 */
export const headless = {
  errno: 13,
  log: [
    "2409: (77) r2 >>= 32                  ; R2=scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))",
    "; if (acc == 7) @ long.bpf.c:11",
    "2410: (55) if r2 != 0x7 goto pc+3     ; R2=7",
    "; return *(__u8 *)(long)skb->data;  /* unchecked packet read: refused */ @ long.bpf.c:12",
    "2411: (61) r1 = *(u32 *)(r1 +76)      ; R1=pkt(r=0)",
    "2412: (71) r0 = *(u8 *)(r1 +0)",
    "invalid access to packet, off=0 size=1, R1(id=0,off=0,r=0)",
    "R1 offset is outside of the packet",
    "processed 2413 insns (limit 1000000) max_states_per_insn 0 total_states 150 peak_states 150 mark_read 0",
    "-- END PROG LOAD LOG --",
    "libbpf: prog 'long_reject': failed to load: -13",
    "libbpf: failed to load object 'sample'",
  ],
};
