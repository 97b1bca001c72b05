// vhost-net's virtqueue handlers on the vhost worker: drivers/vhost/net.c,
// with the RFC's change that vhost reaches the tap's ring only through
// tun_recvmsg(TUN_MSG_CONSUME_PKTS, VHOST_NET_BATCH) (patch 05/18:
// vhost_net_buf_produce()).
//
// handle_rx(): disarm the socket poll (vhost_net_disable_vq), then loop:
// peek the next entry from the vhost_net_buf (refilled 64 at a time through
// recvmsg, where the offloaded program runs), busy-poll once when empty and a
// busyloop timeout is set, hand the entry to the guest, stop after
// VHOST_NET_PKT_WEIGHT packets and requeue; when the ring is empty re-arm the
// poll (vhost_net_enable_vq), which requeues at once if data arrived
// meanwhile. handle_tx() (the guest's TX virtqueue) arrives with the
// virtqueue; its work slot exists so that RX and TX share one worker.
import type { BpfMemory } from "../../shared/bpf/runtime/memory.ts";
import { STEP_POLL, type Clock } from "../../shared/sched/sched.ts";
import { StatBlock } from "../../shared/sched/stats.ts";
import { VHOST_NET_VQ_RX, VHOST_NET_VQ_TX, type VhostDev } from "./vhost.ts";
import type { TunRecv } from "./tun.ts";
import type { GuestStub } from "./guest_stub.ts";

/** VHOST_NET_BATCH: entries vhost_net_buf_produce() asks for. */
export const VHOST_NET_BATCH = 64;
/** VHOST_NET_PKT_WEIGHT: packets one handler run may process before requeueing. */
export const VHOST_NET_PKT_WEIGHT = 256;

export const VHOST_NET_STATS = [
  "rx_runs", // handle_rx() runs (resumptions after a busy poll not counted)
  "rx_packets", // entries handed to the guest
  "rx_buf_produce", // vhost_net_buf_produce() calls (recvmsg of up to 64)
  "rx_buf_empty", // ... that returned nothing (ring empty, or everything dropped/sent back by the program)
  "rx_weight_exceeded", // runs ended by VHOST_NET_PKT_WEIGHT (work requeued, poll left disarmed)
  "rx_enable_requeue", // re-arms that found data and requeued the work at once
  "rx_busy_polls", // busy polls requested (busyloop timeout set)
  "rx_busyloop_intr", // polls ended by other queued work (RX work requeued instead of re-armed)
  "tx_runs",
] as const;
const N_RX_RUNS = 0, N_RX_PACKETS = 1, N_RX_BUF_PRODUCE = 2, N_RX_BUF_EMPTY = 3, N_RX_WEIGHT = 4, N_RX_ENABLE_REQUEUE = 5;
const N_RX_BUSY_POLLS = 6, N_RX_BUSYLOOP_INTR = 7, N_TX_RUNS = 8;

export class VhostNet {
  readonly dev: VhostDev;
  readonly tun: TunRecv;
  readonly guest: GuestStub;
  readonly stats: StatBlock;
  readonly #clock: Clock;
  /** Busy-poll time when the RX ring is empty (VHOST_SET_VRING_BUSYLOOP_TIMEOUT, QEMU's poll-us), ns; 0: off. */
  busyloopTimeoutNs: number;
  /** vhost_net_buf: entries recvmsg handed back, [head, tail). */
  readonly #rxq: Uint32Array;
  #head: number;
  #tail: number;
  #recvPkts: number;
  /** A busy poll is in progress for the current handler run. */
  #polling: boolean;
  /** The current peek already busy-polled (vhost_net_rx_peek_head_len polls once). */
  #polled: boolean;
  #busyloopIntr: boolean;

  constructor(mem: BpfMemory, statsAddr: number, dev: VhostDev, tun: TunRecv, guest: GuestStub, clock: Clock, busyloopTimeoutNs = 0) {
    this.dev = dev;
    this.tun = tun;
    this.guest = guest;
    this.stats = StatBlock.at(mem, statsAddr, VHOST_NET_STATS);
    this.#clock = clock;
    this.busyloopTimeoutNs = busyloopTimeoutNs;
    this.#rxq = new Uint32Array(VHOST_NET_BATCH);
    this.#head = 0;
    this.#tail = 0;
    this.#recvPkts = 0;
    this.#polling = false;
    this.#polled = false;
    this.#busyloopIntr = false;
    dev.setWork(VHOST_NET_VQ_RX, () => this.handleRx());
    dev.setWork(VHOST_NET_VQ_TX, () => this.handleTx());
    dev.pollSource = () => tun.hasData();
  }

  /** Counter block for a VhostNet (setup time, owner thread). */
  static initStats(mem: BpfMemory): number {
    return StatBlock.init(mem, VHOST_NET_STATS).addr;
  }

  /** The next entry for the guest, 0 when none. @see vhost_net_buf_peek(), vhost_net_buf_produce() */
  #peek(): number {
    if (this.#head < this.#tail) return this.#rxq[this.#head]!;
    const s = this.stats.v;
    s[N_RX_BUF_PRODUCE]++;
    this.#head = 0;
    this.#tail = this.tun.tunConsumePackets(this.#rxq, VHOST_NET_BATCH);
    if (this.#tail === 0) {
      s[N_RX_BUF_EMPTY]++;
      return 0;
    }
    return this.#rxq[0]!;
  }

  /** The RX work. Returns 0, or STEP_POLL to busy-poll (then it is called again to go on). @see handle_rx() */
  handleRx(): number {
    const s = this.stats.v, dev = this.dev;
    if (this.#polling) {
      // Back from vhost_net_busy_poll(): peek again, once.
      this.#polling = false;
      this.#polled = true;
      this.#busyloopIntr = !this.tun.hasData() && dev.hasWork();
    } else {
      s[N_RX_RUNS]++;
      dev.pollDisarm(VHOST_NET_VQ_RX);
      this.#recvPkts = 0;
      this.#polled = false;
      this.#busyloopIntr = false;
    }
    for (;;) {
      const h = this.#peek();
      if (h === 0) {
        if (this.busyloopTimeoutNs > 0 && !this.#polled && !this.#busyloopIntr) {
          this.#polling = true;
          s[N_RX_BUSY_POLLS]++;
          dev.pollDeadlineNs = this.#clock.nowNs() + this.busyloopTimeoutNs;
          return STEP_POLL;
        }
        break;
      }
      this.#polled = false;
      this.#head++;
      this.guest.deliver(h);
      s[N_RX_PACKETS]++;
      if (++this.#recvPkts >= VHOST_NET_PKT_WEIGHT) {
        // vhost_exceeds_weight(): requeue, poll stays disarmed.
        s[N_RX_WEIGHT]++;
        dev.vhostWorkQueue(VHOST_NET_VQ_RX);
        return 0;
      }
    }
    if (this.#busyloopIntr) {
      s[N_RX_BUSYLOOP_INTR]++;
      dev.vhostWorkQueue(VHOST_NET_VQ_RX);
      return 0;
    }
    dev.pollArm(VHOST_NET_VQ_RX);
    if (this.tun.hasData()) {
      s[N_RX_ENABLE_REQUEUE]++;
      dev.vhostWorkQueue(VHOST_NET_VQ_RX);
    }
    return 0;
  }

  /** The TX work (guest -> host); nothing to do until the TX virtqueue exists. @see handle_tx() */
  handleTx(): number {
    this.stats.v[N_TX_RUNS]++;
    return 0;
  }
}
