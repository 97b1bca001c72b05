// XDP runtime model: struct xdp_md contexts and page-sized frames with
// XDP_PACKET_HEADROOM in BpfMemory (include/net/xdp.h xdp_buff,
// xdp_prepare_buff(); net/bpf/test_run.c for the test-run geometry), and one
// entry point that runs a program on a prepared frame. The datapath and the
// test-run command use the same entry.
import type { BpfProg } from "./prog.ts";
import { BpfVm, XDP_CTX_BLOCK, XDP_CTX_FRAME_START, XDP_CTX_FRAME_SZ, XDP_CTX_REDIRECT, XDP_CTX_REDIRECT_MAP } from "./vm.ts";
import { jitRun, type BpfEngine } from "./engine.ts";
import { SKB_SHARED_INFO_SIZE } from "./helpers.ts";
import {
  XDP_ABORTED, XDP_MD_DATA, XDP_MD_DATA_END, XDP_MD_DATA_META, XDP_MD_EGRESS_IFINDEX,
  XDP_MD_INGRESS_IFINDEX, XDP_MD_RX_QUEUE_INDEX, XDP_PACKET_HEADROOM, XDP_REDIRECT,
} from "../isa/uapi.ts";

/** Frame size of a page_pool page (PAGE_SIZE); one packet per frame. */
export const XDP_FRAME_SZ = 4096;
/** Largest linear packet a frame holds: PAGE_SIZE - headroom - tailroom (test_run's max_data_sz). */
export const XDP_MAX_DATA_SZ = XDP_FRAME_SZ - XDP_PACKET_HEADROOM - SKB_SHARED_INFO_SIZE;

/**
 * xdp_init_buff() + xdp_prepare_buff() on the context block at `ctx` of the frame at `frame`
 * (page aligned): a packet of `len` bytes at data = frame + XDP_PACKET_HEADROOM, no metadata,
 * no redirect pending. The caller checks `len`.
 */
export function xdpPrepareBuff(dv: DataView, ctx: number, frame: number, len: number, ingressIfindex: number, rxQueueIndex: number): void {
  const data = frame + XDP_PACKET_HEADROOM;
  dv.setUint32(ctx + XDP_MD_DATA, data, true);
  dv.setUint32(ctx + XDP_MD_DATA_END, data + len, true);
  dv.setUint32(ctx + XDP_MD_DATA_META, data, true);
  dv.setUint32(ctx + XDP_MD_INGRESS_IFINDEX, ingressIfindex, true);
  dv.setUint32(ctx + XDP_MD_RX_QUEUE_INDEX, rxQueueIndex, true);
  dv.setUint32(ctx + XDP_MD_EGRESS_IFINDEX, 0, true);
  dv.setUint32(ctx + XDP_CTX_FRAME_START, frame, true);
  dv.setUint32(ctx + XDP_CTX_FRAME_SZ, XDP_FRAME_SZ, true);
  dv.setUint32(ctx + XDP_CTX_REDIRECT, 0, true);
  dv.setUint32(ctx + XDP_CTX_REDIRECT_MAP, 0, true);
}

/** A frame plus its context block, allocated once and reused for every packet. */
export class XdpFrame {
  readonly frame: number;
  readonly ctx: number;
  constructor(vm: BpfVm) {
    this.frame = vm.mem.alloc(XDP_FRAME_SZ, 64);
    this.ctx = vm.mem.alloc(XDP_CTX_BLOCK, 64);
  }

  /**
   * xdp_init_buff() + xdp_prepare_buff(): a packet of `len` bytes at data = frame + headroom.
   * The caller has written (or will write) the bytes at dataAddr(). Returns 0 or -1 when len is out of range.
   */
  prepare(vm: BpfVm, len: number, ingressIfindex: number, rxQueueIndex: number): number {
    if (len < 0 || len > XDP_MAX_DATA_SZ) return -1;
    xdpPrepareBuff(vm.mem.dv, this.ctx, this.frame, len, ingressIfindex, rxQueueIndex);
    return 0;
  }

  /** Address where prepare() places packet data. */
  dataAddr(): number {
    return this.frame + XDP_PACKET_HEADROOM;
  }

  data(vm: BpfVm): number {
    return vm.mem.dv.getUint32(this.ctx + XDP_MD_DATA, true);
  }
  dataEnd(vm: BpfVm): number {
    return vm.mem.dv.getUint32(this.ctx + XDP_MD_DATA_END, true);
  }
  dataMeta(vm: BpfVm): number {
    return vm.mem.dv.getUint32(this.ctx + XDP_MD_DATA_META, true);
  }
  /** Redirect target chosen by bpf_redirect()/bpf_redirect_map(), 0 when none. */
  redirectIfindex(vm: BpfVm): number {
    return vm.mem.dv.getUint32(this.ctx + XDP_CTX_REDIRECT, true);
  }
}

/**
 * bpf_prog_run_xdp(): runs `prog` on a prepared frame (JIT by default). Returns the program's
 * return value (an XDP action, or any u32 the program returned), or -1 when the
 * runtime stopped the program (vm.fault says why; callers count it as XDP_ABORTED).
 */
export function runXdp(vm: BpfVm, prog: BpfProg, f: XdpFrame, engine: BpfEngine = jitRun): number {
  vm.setXdpCtx(f.ctx, prog.ifindex !== 0);
  const fault = engine(vm, prog, f.ctx, 0);
  if (fault !== 0) return -1;
  return vm.regs[0]! >>> 0;
}

/** What the stack does with a return value: unknown actions are dropped like XDP_ABORTED (bpf_warn_invalid_xdp_action). */
export function xdpVerdict(ret: number): number {
  if (ret < 0 || ret > XDP_REDIRECT) return XDP_ABORTED;
  return ret;
}

