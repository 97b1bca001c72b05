// A CLI command's session with a running vxo process (host, device model or
// guest): find it by name in the runtime directory or take its ws:// URL,
// connect and say HELLO as a "cli" peer (connectCli()), run the command's
// requests, close. The control channel, the message table and the runtime
// directory are imported when a command runs, not when vxo starts: this file
// only imports types.
import type { Channel } from "../shared/proto/channel.ts";
import type { MsgTable } from "../shared/proto/messages.ts";
import type { ProcKind } from "../shared/runtime_dir.ts";

/** Runs `use` on a channel to the `kind` process named `nameOrUrl` (client name `client`), then closes it. */
export async function withProc<T>(
  kind: ProcKind, nameOrUrl: string, client: string, use: (ch: Channel, msg: MsgTable) => Promise<T>,
): Promise<T> {
  const [{ connectCli }, { MSG }, { lookupProc }] = await Promise.all([
    import("../shared/proto/channel.ts"), import("../shared/proto/messages.ts"), import("../shared/runtime_dir.ts")]);
  const ch = await connectCli(lookupProc(kind, nameOrUrl), client);
  try {
    return await use(ch, MSG);
  } finally {
    ch.close();
  }
}
