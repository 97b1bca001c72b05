// Migration state and blockers of one VM, after QEMU migration/blocker.c
// (migrate_add_blocker(), --only-migratable) and migration/migration.c
// (qmp_migrate() refusing while a blocker is registered, "postmigrate").
import { writeFileSync } from "node:fs";
import { EACCES, EINVAL, KernelError } from "../shared/errno.ts";

/** RunState names as `info status` prints them (qapi/run-state.json). */
export type RunState = "running" | "paused (postmigrate)";

export class MigrationState {
  readonly onlyMigratable: boolean;
  readonly #blockers: Set<string>;
  runState: RunState;

  constructor(onlyMigratable: boolean) {
    this.onlyMigratable = onlyMigratable;
    this.#blockers = new Set();
    this.runState = "running";
  }

  get blockers(): readonly string[] {
    return [...this.#blockers];
  }

  /**
   * migrate_add_blocker(): registers `reason`. With --only-migratable the blocker is
   * refused instead and the caller must fail the operation: returns -EACCES and the message.
   */
  addBlocker(reason: string): { errno: number; message: string } | null {
    if (this.#blockers.has(reason)) return null;
    if (this.onlyMigratable) {
      return { errno: EACCES, message: `disallowing migration blocker (--only-migratable) for: ${reason}` };
    }
    this.#blockers.add(reason);
    return null;
  }

  delBlocker(reason: string): void {
    this.#blockers.delete(reason);
  }

  /**
   * `migrate URI`: refused while a blocker exists (its reason is the error, as
   * qmp_migrate() reports it). Supports file:PATH, writing `state` there.
   */
  migrate(uri: string, state: () => unknown): void {
    const b = this.blockers[0];
    if (b !== undefined) throw new KernelError(EACCES, b);
    if (this.runState !== "running") throw new KernelError(EINVAL, "There's a migration process in progress");
    if (!uri.startsWith("file:")) throw new KernelError(EINVAL, `Migration URI '${uri}' is not supported by this device model (use file:PATH)`);
    writeFileSync(uri.slice(5), JSON.stringify(state(), null, 2) + "\n");
    this.runState = "paused (postmigrate)";
  }
}
