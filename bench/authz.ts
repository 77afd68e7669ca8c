// What admission costs a RoomService call: GetRoom through the real gateway service with authentication (a bearer
// JWT verified against a JWKS) and the policy checked, against the same GetRoom with admission skipped, on the same
// server process, NATS and room, measured in alternating rounds so that a noisy machine shifts both alike.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { Access, Admitted, roomService } from "../gateway/internal.js";
import { createRegistry } from "../observability/index.js";
import { Room, RoomServiceClient } from "../proto/index.js";
import { RoomDirectory } from "../rooms/internal.js";
import { bearerToken, callUnary, connectNats, startGrpcServer } from "../transport/index.js";
import { AuditLog, Authenticator, Caller, PolicyFile, type AuditEntry } from "../trust/internal.js";
import { startNatsServer } from "../testing/index.js";
import { summarize, timeSequential } from "./stats.js";

/** Admission skipped: every call is an admin's, as if it had been proven (the baseline). */
class NoAdmission extends Access {
  readonly #caller = new Caller("bench", "admin", "all");

  override run<T>(
    action: AuditEntry["action"],
    _request: object,
    _call: unknown,
    work: (a: Admitted) => Promise<T>,
  ): Promise<T> {
    const entry = {
      identity: "bench",
      authenticatedBy: "",
      role: "admin",
      tenant: "",
      roomId: "",
      action,
      result: "ok",
      message: "",
      requestId: "",
    };
    return work(new Admitted(this, this.#caller, entry));
  }
}

export async function authzOverhead(n: number, warmup: number, log: (line: string) => void) {
  await using nats = await startNatsServer();
  const nc = await connectNats({ servers: nats.url, name: "bench-authz" });
  const dir = await mkdtemp(join(tmpdir(), "livehost-bench-authz-"));
  try {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    await writeFile(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k" }] }));
    await writeFile(
      join(dir, "policy.yaml"),
      "tenants: { acme: {} }\ncallers: [{ identity: svc:acme, tenants: [acme], role: merchant }]\n",
    );
    const directory = await RoomDirectory.open(nc);
    await directory.put(Room.fromPartial({ id: "bench-room", tenant: "acme", revision: 1 }));
    using authenticator = await Authenticator.open({ jwksFile: join(dir, "jwks.json") });
    using policy = await PolicyFile.open(join(dir, "policy.yaml"));
    const audit = await AuditLog.open(nc);
    const deps = { nats: nc, directory, registry: createRegistry() };
    const checked = new Access({ authenticator, policy: () => policy.current, audit, directory });
    const unchecked = new NoAdmission({ authenticator, policy: () => policy.current, audit, directory });
    await using withAuth = await startGrpcServer({ services: [roomService({ ...deps, access: checked })] });
    await using without = await startGrpcServer({ services: [roomService({ ...deps, access: unchecked })] });
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256", kid: "k" })
      .setSubject("svc:acme")
      .setAudience("livehost")
      .setExpirationTime("1h")
      .sign(privateKey);
    const authClient = new RoomServiceClient(withAuth.address, credentials.createInsecure(), {
      interceptors: [bearerToken(token)],
    });
    const plainClient = new RoomServiceClient(without.address, credentials.createInsecure(), {
      interceptors: [bearerToken(token)],
    });
    const get = (client: RoomServiceClient) => () => callUnary(client.getRoom.bind(client), { roomId: "bench-room" });
    const rounds = 5;
    const checkedSamples: number[] = [];
    const uncheckedSamples: number[] = [];
    log(`RoomService.GetRoom with and without admission, ${rounds} alternating rounds of ${n / rounds}`);
    for (let round = 0; round < rounds; round++) {
      uncheckedSamples.push(...(await timeSequential(n / rounds, warmup / rounds, get(plainClient))));
      checkedSamples.push(...(await timeSequential(n / rounds, warmup / rounds, get(authClient))));
    }
    // A token the gateway has not seen yet is verified in full (ES256 signature): what the first call of a new token
    // costs. Tokens are made before the clock starts.
    const fresh = await Promise.all(
      Array.from({ length: Math.max(50, n / 25) }, (_, i) =>
        new SignJWT({ i })
          .setProtectedHeader({ alg: "ES256", kid: "k" })
          .setSubject("svc:acme")
          .setAudience("livehost")
          .setExpirationTime("1h")
          .sign(privateKey),
      ),
    );
    const freshClients = fresh.map(
      (t) =>
        new RoomServiceClient(withAuth.address, credentials.createInsecure(), {
          interceptors: [bearerToken(t)],
          // One connection for all of them, as the calls of one process share it.
          "grpc.use_local_subchannel_pool": 0,
        }),
    );
    let next = 0;
    log(`RoomService.GetRoom with a token not seen before x${fresh.length}`);
    const freshSamples = await timeSequential(fresh.length, 0, () => get(freshClients[next++]!)());
    for (const client of freshClients) client.close();
    authClient.close();
    plainClient.close();
    const freshStats = summarize(freshSamples);
    const withStats = summarize(checkedSamples);
    const withoutStats = summarize(uncheckedSamples);
    return {
      authz_overhead_ratio: Math.round((withStats.p50 / withoutStats.p50) * 100) / 100,
      authz_overhead_ratio_p99: Math.round((withStats.p99 / withoutStats.p99) * 100) / 100,
      get_room_with_authz_ms: withStats,
      get_room_without_authz_ms: withoutStats,
      get_room_new_token_ms: freshStats,
    };
  } finally {
    await nc.close();
    await rm(dir, { recursive: true, force: true });
  }
}
