// `livehost audit`: the gateway's audit trail (who did what to which room, when, with what result), read from the
// AUDIT stream in order. For SREs and security reviews; it reads NATS directly with the caller's NATS user.
import { Option, type Command } from "commander";
import { AuditRecord } from "../proto/index.js";
import { parseDuration } from "../observability/index.js";
import { compileNatsOptions, connectNats, type NatsOptions } from "../transport/index.js";
import { validateRoomId } from "../rooms/index.js";
import { readAudit, validateTenant } from "../trust/index.js";
import { addNatsOptions } from "./config.js";

interface AuditFlags extends NatsOptions {
  nats: string;
  tenant?: string;
  room?: string;
  identity?: string;
  since?: string;
  json?: boolean;
}

export function registerAuditCommand(program: Command): void {
  addNatsOptions(
    program.command("audit").description("print the audit trail of control actions, oldest first"),
    "--nats",
    "NATS server URLs, comma-separated",
  )
    .addOption(new Option("--tenant <tenant>", "only this tenant's records"))
    .addOption(new Option("--room <room-id>", "only this room's records"))
    .addOption(new Option("--identity <identity>", "only this caller's records"))
    .addOption(new Option("--since <duration>", 'only records from this long ago, e.g. "1h"'))
    .option("--json", "print protobuf JSON, one record per line")
    .action(async (flags: AuditFlags) => {
      if (flags.tenant !== undefined && flags.tenant !== "_") validateTenant(flags.tenant, "--tenant");
      if (flags.room !== undefined) validateRoomId(flags.room, "--room");
      const sinceMs = flags.since === undefined ? undefined : parseDuration(flags.since, "--since", { bare: "s" });
      const nats = await connectNats(compileNatsOptions(flags.nats, "--nats", flags, "livehost-audit"));
      try {
        const query = {
          tenant: flags.tenant,
          roomId: flags.room,
          identity: flags.identity,
          since: sinceMs === undefined ? undefined : new Date(Date.now() - sinceMs),
        };
        for await (const record of readAudit(nats, query)) {
          process.stdout.write(flags.json ? `${JSON.stringify(AuditRecord.toJSON(record))}\n` : `${line(record)}\n`);
        }
      } finally {
        await nats.close();
      }
    });
}

function line(r: AuditRecord): string {
  const who = r.identity === "" ? "(unauthenticated)" : `${r.identity} [${r.role || "?"}]`;
  const what = `${r.action} ${r.tenant || "-"}/${r.roomId || "-"}`;
  const message = r.message === "" ? "" : `\t${r.message}`;
  return `${r.time?.toISOString() ?? "?"}\t${who}\t${what}\t${r.result}${message}`;
}
