// The RFC's eight throughput figures (F1..F8, labels of cost-model-anchors.md)
// and the same author's December re-run of the same cells: the targets of the
// model and its calibration.
// Sources: "[RFC,net-next,00/18] virtio_net XDP offload" (Prashant Bhole,
// 2019-11-26, Message-ID 20191126100744.5083-1-prashantbhole.linux@gmail.com;
// seed 003, shared/reference/published-results.json) and "[RFC net-next
// 00/14] XDP in tx path" (2019-12-18, 20191218081050.10170-1-...; anchors §0).

export interface Figure {
  label: "F1" | "F2" | "F3" | "F4" | "F5" | "F6" | "F7" | "F8";
  case: 1 | 2;
  program: "xdp1" | "xdp2";
  mode: "offload" | "non_offload";
  /** RFC, November 2019, Mpps. */
  paper: number;
  /** Re-run, December 2019, Mpps. */
  rerun: number;
}

export const FIGURES: readonly Figure[] = [
  { label: "F1", case: 1, program: "xdp1", mode: "non_offload", paper: 2.46, rerun: 2.57 },
  { label: "F2", case: 1, program: "xdp1", mode: "offload", paper: 12.9, rerun: 12.9 },
  { label: "F3", case: 1, program: "xdp2", mode: "non_offload", paper: 1.5, rerun: 1.53 },
  { label: "F4", case: 1, program: "xdp2", mode: "offload", paper: 7.26, rerun: 7.15 },
  { label: "F5", case: 2, program: "xdp1", mode: "non_offload", paper: 1.03, rerun: 0.99 },
  { label: "F6", case: 2, program: "xdp1", mode: "offload", paper: 1.01, rerun: 1.0 },
  { label: "F7", case: 2, program: "xdp2", mode: "non_offload", paper: 1.1, rerun: 1.19 },
  { label: "F8", case: 2, program: "xdp2", mode: "offload", paper: 0.99, rerun: 0.97 },
];

/** Issue 12's targets: each figure within 15%, each row's offload/non-offload ratio within 20%. */
export const FIGURE_TOLERANCE = 0.15;
export const RATIO_TOLERANCE = 0.2;

export function figure(label: Figure["label"]): Figure {
  return FIGURES.find((f) => f.label === label)!;
}

/** Relative error of `model` against `paper` (signed). */
export function relErr(model: number, paper: number): number {
  return (model - paper) / paper;
}
