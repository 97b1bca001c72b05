// The verifier corpus: every case file's cases in one list (names unique).
import type { VerifierCase } from "./case.ts";
import { CFG_CASES } from "./cfg.ts";
import { REGS_CASES } from "./regs.ts";
import { CTX_CASES } from "./ctx.ts";
import { PACKET_CASES } from "./packet.ts";
import { MAP_CASES } from "./maps.ts";
import { STACK_CASES } from "./stack.ts";
import { CALL_CASES } from "./calls.ts";
import { HELPER_CASES } from "./helpers.ts";
import { PTR_CASES } from "./ptr.ts";
import { LIMIT_CASES } from "./limits.ts";
import { TABLE_CASES } from "./table.ts";
import { PRECISION_CASES } from "./precision.ts";

/** All corpus cases. */
export const CORPUS: readonly VerifierCase[] = [
  ...CFG_CASES,
  ...REGS_CASES,
  ...CTX_CASES,
  ...PACKET_CASES,
  ...MAP_CASES,
  ...STACK_CASES,
  ...CALL_CASES,
  ...HELPER_CASES,
  ...PTR_CASES,
  ...LIMIT_CASES,
  ...TABLE_CASES,
  ...PRECISION_CASES,
];
