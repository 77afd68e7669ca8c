// Hostile callers against the real stack (NATS, a room host, two gateways: one taking bearer tokens on plaintext,
// one requiring client certificates): each gets its clear status, nothing of another tenant is revealed or changed,
// every refusal is in the audit trail, and the stack keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, Metadata, ServerCredentials, credentials, status, type ServiceError } from "@grpc/grpc-js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from "jose";
import { makeTestPki, type TestPki } from "../charts/testing/certs.js";
import { startGateway, type Gateway } from "../gateway/internal.js";
import { createRegistry } from "../observability/index.js";
import { Comment, RoomServiceClient, RoomState, type AuditRecord } from "../proto/index.js";
import { bearerToken } from "../transport/index.js";
import { readAudit } from "../trust/index.js";
import { eventually, runCli, sampleRoomSpec, startTestRoomStack, type TestRoomStack } from "../testing/index.js";

const policy = `
tenants:
  acme: { tier: gold }
  globex: { tier: bronze, quotas: { liveRooms: 1, commentsPerSecond: 2, sayPerMinute: 1 } }
  initech: {}
callers:
  - { identity: "svc:acme", tenants: [acme], role: merchant }
  - { identity: "svc:globex", tenants: [globex], role: merchant }
  - { identity: "svc:ingest", tenants: ["*"], role: ingest }
  - { identity: "svc:console", tenants: [acme], role: console }
  - { identity: "svc:sre", tenants: ["*"], role: admin, defaultTenant: acme }
  - { identity: "spiffe://livehost.test/ns/shop/sa/acme-backoffice", tenants: [acme], role: merchant }
`;

let stack: TestRoomStack;
let dir: string;
let pki: TestPki;
let tokenGateway: Gateway;
let tlsGateway: Gateway;
let signingKey: CryptoKey;
let rogueKey: CryptoKey;
const clients: RoomServiceClient[] = [];

async function mint(subject: string, options: { key?: CryptoKey; audience?: string; expires?: string } = {}) {
  return new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid: options.key ? "rogue" : "trusted" })
    .setSubject(subject)
    .setAudience(options.audience ?? "livehost")
    .setIssuedAt()
    .setExpirationTime(options.expires ?? "10m")
    .sign(options.key ?? signingKey);
}

/** A client of the token gateway, calling with `token` (none: no authorization metadata at all). */
function tokenClient(token?: string): RoomServiceClient {
  const client = new RoomServiceClient(tokenGateway.grpc.address, credentials.createInsecure(), {
    interceptors: token ? [bearerToken(token)] : [],
  });
  clients.push(client);
  return client;
}

async function as(subject: string) {
  return tokenClient(await mint(subject));
}

/** A client of the mTLS gateway presenting this certificate (and no token). */
async function certificateClient(name: string, options: { san?: string; untrusted?: boolean }) {
  const files = await pki.client(name, options);
  const [ca, cert, key] = await Promise.all([readFile(pki.ca), readFile(files.cert), readFile(files.key)]);
  const client = new RoomServiceClient(tlsGateway.grpc.address, credentials.createSsl(ca, key, cert));
  clients.push(client);
  return client;
}

type Unary<Req, Res> = (req: Req, callback: (err: ServiceError | null, res: Res) => void) => unknown;

/** The call's result, or its status code and message (what a gRPC client in any language sees). */
function call<Req, Res>(method: Unary<Req, Res>, request: Req): Promise<Res | { code: status; details: string }> {
  return new Promise((resolve) =>
    method(request, (err, res) => resolve(err ? { code: err.code, details: err.details } : res)),
  );
}

const createRequest = (roomId: string, tenant = "") => ({
  requestId: `create-${roomId}`,
  roomId,
  spec: sampleRoomSpec(),
  tenant,
});
const listAll = { pageSize: 500, pageToken: "", state: RoomState.ROOM_STATE_UNSPECIFIED, labels: {}, tenant: "" };

beforeAll(async () => {
  stack = await startTestRoomStack();
  dir = await mkdtemp(join(tmpdir(), "livehost-trust-"));
  pki = await makeTestPki();
  ({ privateKey: signingKey } = await generateKeyPair("ES256", { extractable: true }));
  ({ privateKey: rogueKey } = await generateKeyPair("ES256", { extractable: true }));
  const { d: _d, ...publicJwk } = await exportJWK(signingKey);
  await writeFile(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...publicJwk, kid: "trusted", alg: "ES256" }] }));
  await writeFile(join(dir, "policy.yaml"), policy);
  const auth = { jwksFile: join(dir, "jwks.json"), policyFile: join(dir, "policy.yaml") };
  tokenGateway = await startGateway({ nats: stack.nc, registry: createRegistry(), auth });
  const [ca, cert, key] = await Promise.all([readFile(pki.ca), readFile(pki.server.cert), readFile(pki.server.key)]);
  tlsGateway = await startGateway({
    nats: stack.nc,
    registry: createRegistry(),
    auth: { ...auth, certificates: true },
    grpcCredentials: ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], true),
  });
  const acme = await as("svc:acme");
  const created = (await call(acme.createRoom.bind(acme), createRequest("acme-room"))) as { tenant?: string };
  if (created.tenant !== "acme") throw new Error(`setup: ${JSON.stringify(created)}`);
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.close();
  await tlsGateway?.close(0);
  await tokenGateway?.close(0);
  await stack?.[Symbol.asyncDispose]();
  await pki?.[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
});

describe("trust: callers without a valid identity", () => {
  it.each([
    ["no credential at all", () => Promise.resolve(undefined), /no credential/],
    ["an expired token", () => mint("svc:acme", { expires: "-10m" }), /expired/],
    ["a token for another audience", () => mint("svc:acme", { audience: "billing" }), /"aud" claim/],
    ["a token signed by an unknown key", () => mint("svc:acme", { key: rogueKey }), /no trusted key/],
    ["a token that is not a JWT", () => Promise.resolve("not-a-jwt"), /not a valid JWT/],
    ["an unsigned token (alg none)", () => Promise.resolve(unsignedToken("svc:sre")), /not a valid JWT|algorithm/],
  ])("%s is UNAUTHENTICATED and learns nothing", async (_what, token, reason) => {
    const client = tokenClient(await token());
    const got = await call(client.getRoom.bind(client), { roomId: "acme-room" });
    expectRefused(got, status.UNAUTHENTICATED, reason);
    expect(JSON.stringify(got)).not.toContain("acme");
    const listed = await call(client.listRooms.bind(client), listAll);
    expect(listed).toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it("an authorization header that is not a bearer token is UNAUTHENTICATED", async () => {
    const client = new RoomServiceClient(tokenGateway.grpc.address, credentials.createInsecure());
    clients.push(client);
    const metadata = new Metadata();
    metadata.set("authorization", "Basic c3ZjOmFjbWU=");
    const got = await new Promise<ServiceError | null>((resolve) =>
      client.getRoom({ roomId: "acme-room" }, metadata, (err) => resolve(err)),
    );
    expect(got?.code).toBe(status.UNAUTHENTICATED);
  });

  it("a valid token whose identity the policy does not know is PERMISSION_DENIED", async () => {
    const stranger = await as("svc:stranger");
    await expect(call(stranger.getRoom.bind(stranger), { roomId: "acme-room" })).resolves.toMatchObject({
      code: status.PERMISSION_DENIED,
    });
  });
});

describe("trust: tenants kept apart", () => {
  it("another tenant can neither see, list, change, stop nor take over a room id", async () => {
    const globex = await as("svc:globex");
    for (const [method, request] of [
      [globex.getRoom.bind(globex), { roomId: "acme-room" }],
      [globex.stopRoom.bind(globex), { roomId: "acme-room", reason: "hostile", requestId: "" }],
      [globex.startRoom.bind(globex), { roomId: "acme-room", requestId: "" }],
      [globex.interrupt.bind(globex), { roomId: "acme-room" }],
      [globex.createRoom.bind(globex), createRequest("acme-room")],
      [globex.createRoom.bind(globex), createRequest("other-room", "acme")],
      [globex.listRooms.bind(globex), { ...listAll, tenant: "acme" }],
    ] as [Unary<unknown, unknown>, unknown][]) {
      await expect(call(method, request)).resolves.toMatchObject({ code: status.PERMISSION_DENIED });
    }
    const listed = await call(globex.listRooms.bind(globex), listAll);
    expect(listed).toMatchObject({ rooms: [] });
    // Nothing changed: the room is still acme's, never started nor stopped.
    const acme = await as("svc:acme");
    await expect(call(acme.getRoom.bind(acme), { roomId: "acme-room" })).resolves.toMatchObject({
      tenant: "acme",
      status: { state: RoomState.ROOM_STATE_CREATED },
    });
    const mine = await call(acme.listRooms.bind(acme), listAll);
    expect(mine).toMatchObject({ rooms: [expect.objectContaining({ id: "acme-room" })] });
  });

  it("the same comment id in two tenants' rooms is two comments: one tenant cannot drop another's", async () => {
    const acme = await as("svc:acme");
    const sre = await as("svc:sre");
    await call(sre.createRoom.bind(sre), createRequest("initech-comments", "initech"));
    const comment = (roomId: string) => ({
      roomId,
      comment: Comment.fromPartial({ commentId: "c-shared-1", viewerId: "v", text: "在吗" }),
    });
    await expect(call(acme.postComment.bind(acme), comment("acme-room"))).resolves.toMatchObject({ queued: true });
    await expect(call(sre.postComment.bind(sre), comment("initech-comments"))).resolves.toMatchObject({ queued: true });
    // The same room, the same id: a duplicate, as before.
    await expect(call(acme.postComment.bind(acme), comment("acme-room"))).resolves.toMatchObject({ queued: false });
  });

  it("a room id guessed for a room that does not exist is NOT_FOUND, an id that is not an id INVALID_ARGUMENT", async () => {
    const globex = await as("svc:globex");
    await expect(call(globex.getRoom.bind(globex), { roomId: "no-such-room" })).resolves.toMatchObject({
      code: status.NOT_FOUND,
    });
    for (const roomId of ["../../etc/passwd", "acme-room.>", "acme-room.*", "ACME ROOM", "a".repeat(64)]) {
      expectRefused(await call(globex.getRoom.bind(globex), { roomId }), status.INVALID_ARGUMENT, "room_id");
    }
  });
});

describe("trust: roles", () => {
  it("each role does only what it is for", async () => {
    const ingest = await as("svc:ingest");
    const console = await as("svc:console");
    const acme = await as("svc:acme");
    const comment = Comment.fromPartial({ commentId: "c-role-1", viewerId: "v1", text: "这个保温杯多少钱？" });
    await expect(call(ingest.postComment.bind(ingest), { roomId: "acme-room", comment })).resolves.toMatchObject({
      commentId: "c-role-1",
    });
    const stopped = await call(ingest.stopRoom.bind(ingest), { roomId: "acme-room", reason: "", requestId: "" });
    expectRefused(stopped, status.PERMISSION_DENIED, "role ingest");
    await expect(call(console.createRoom.bind(console), createRequest("console-room"))).resolves.toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    const said = await call(acme.say.bind(acme), {
      roomId: "acme-room",
      text: "全场一块钱！",
      interrupt: false,
      requestId: "",
      overrideGuard: true,
    });
    expectRefused(said, status.PERMISSION_DENIED, "override");
  });

  it("an admin acts in every tenant, and its creates go to its default tenant", async () => {
    const sre = await as("svc:sre");
    await expect(call(sre.createRoom.bind(sre), createRequest("sre-room"))).resolves.toMatchObject({ tenant: "acme" });
    await expect(call(sre.createRoom.bind(sre), createRequest("globex-room", "globex"))).resolves.toMatchObject({
      tenant: "globex",
    });
    const listed = (await call(sre.listRooms.bind(sre), listAll)) as { rooms: { id: string }[] };
    expect(listed.rooms.map((r) => r.id)).toEqual(expect.arrayContaining(["acme-room", "globex-room", "sre-room"]));
  });
});

describe("trust: bytes a client library would never send", () => {
  it("malformed protobuf, a 64-bit value past what a room can hold, invalid UTF-8: INVALID_ARGUMENT naming it", async () => {
    const token = await mint("svc:acme");
    const raw = new Client(tokenGateway.grpc.address, credentials.createInsecure());
    const send = (method: string, bytes: Uint8Array) => {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      const same = (b: Buffer) => b;
      return new Promise<ServiceError | undefined>((resolve) =>
        raw.makeUnaryRequest(`/livehost.v1.RoomService/${method}`, same, same, Buffer.from(bytes), metadata, {}, (e) =>
          resolve(e ?? undefined),
        ),
      );
    };
    try {
      const garbage = await send("GetRoom", new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
      expect(garbage).toMatchObject({ code: status.INVALID_ARGUMENT });
      const huge = new BinaryWriter().uint32(10).string("acme-room").uint32(32).uint64("18446744073709551615");
      const tooBig = await send("UpdateRoom", huge.finish());
      expect(tooBig).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(tooBig?.details).toMatch(/expected_revision/);
      const notUtf8 = new BinaryWriter()
        .uint32(10)
        .bytes(new Uint8Array([0x61, 0xff, 0xfe]))
        .finish();
      const bad = await send("GetRoom", notUtf8);
      expect(bad).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(bad?.details).toMatch(/room_id: is not valid UTF-8/);
    } finally {
      raw.close();
    }
    // And the gateway goes on serving.
    const acme = await as("svc:acme");
    await expect(call(acme.getRoom.bind(acme), { roomId: "acme-room" })).resolves.toMatchObject({ id: "acme-room" });
  });
});

describe("trust: quotas", () => {
  it("a tenant over its rooms on air, comments per second or Say per minute gets RESOURCE_EXHAUSTED", async () => {
    const globex = await as("svc:globex");
    for (const id of ["globex-a", "globex-b"]) await call(globex.createRoom.bind(globex), createRequest(id, "globex"));
    await expect(call(globex.startRoom.bind(globex), { roomId: "globex-a", requestId: "" })).resolves.toMatchObject({
      status: { state: RoomState.ROOM_STATE_LIVE },
    });
    // The gateway learns the first room is on air from the directory it follows.
    await eventually(async () => {
      const second = await call(globex.startRoom.bind(globex), { roomId: "globex-b", requestId: "" });
      expectRefused(second, status.RESOURCE_EXHAUSTED, "1 rooms on air");
    });
    const post = (n: number) =>
      call(globex.postComment.bind(globex), {
        roomId: "globex-a",
        comment: Comment.fromPartial({ commentId: `quota-${n}`, viewerId: "v", text: "有货吗？" }),
      });
    const answers = [await post(1), await post(2), await post(3)];
    expect(answers.filter((a) => "code" in (a as object))).toEqual([
      expect.objectContaining({ code: status.RESOURCE_EXHAUSTED }),
    ]);
    const say = () =>
      call(globex.say.bind(globex), {
        roomId: "globex-a",
        text: "大家好",
        interrupt: false,
        requestId: "",
        overrideGuard: false,
      });
    await expect(say()).resolves.toMatchObject({ utteranceId: expect.any(String) as string });
    expectRefused(await say(), status.RESOURCE_EXHAUSTED, "Say calls per minute");
    // Another tenant's quota is its own.
    const acme = await as("svc:acme");
    await expect(call(acme.getRoom.bind(acme), { roomId: "acme-room" })).resolves.toMatchObject({ id: "acme-room" });
  });
});

describe("trust: client certificates", () => {
  it("a certificate's SPIFFE identity is a caller; another role's certificate is not; a rogue CA's is refused", async () => {
    const backoffice = await certificateClient("acme-backoffice", {
      san: "URI:spiffe://livehost.test/ns/shop/sa/acme-backoffice",
    });
    await expect(call(backoffice.getRoom.bind(backoffice), { roomId: "acme-room" })).resolves.toMatchObject({
      id: "acme-room",
    });
    const worker = await certificateClient("tts-worker", {
      san: "URI:spiffe://livehost.test/ns/livehost/sa/tts-worker",
    });
    await expect(call(worker.getRoom.bind(worker), { roomId: "acme-room" })).resolves.toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    const rogue = await certificateClient("rogue", {
      san: "URI:spiffe://livehost.test/ns/shop/sa/acme-backoffice",
      untrusted: true,
    });
    const refused = await call(rogue.getRoom.bind(rogue), { roomId: "acme-room" });
    expect(refused).toMatchObject({ code: status.UNAVAILABLE });
  });
});

describe("trust: audit", () => {
  it("changes and refusals are in the audit trail with who, what, which room and the result", async () => {
    const records: AuditRecord[] = [];
    for await (const record of readAudit(stack.nc)) records.push(record);
    expect(records).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ identity: "svc:acme", action: "CreateRoom", roomId: "acme-room", result: "ok" }),
        expect.objectContaining({
          identity: "svc:globex",
          action: "StopRoom",
          roomId: "acme-room",
          tenant: "acme",
          result: "permission_denied",
        }),
        expect.objectContaining({ identity: "", action: "GetRoom", result: "unauthenticated" }),
        expect.objectContaining({
          identity: "spiffe://livehost.test/ns/livehost/sa/tts-worker",
          authenticatedBy: "certificate",
          result: "permission_denied",
        }),
      ]),
    );
    // Reads that succeed and comments are not audited (their volume is in metrics).
    expect(records.filter((r) => r.action === "PostComment" && r.result === "ok")).toEqual([]);
    const acmeOnly: AuditRecord[] = [];
    for await (const record of readAudit(stack.nc, { tenant: "acme", roomId: "acme-room" })) acmeOnly.push(record);
    expect(acmeOnly.length).toBeGreaterThan(0);
    expect(acmeOnly.every((r) => r.tenant === "acme" && r.roomId === "acme-room")).toBe(true);
  });

  it("livehost audit prints a room's records, one JSON object per line", async () => {
    const cli = runCli(["audit", "--nats", stack.nats.url, "--tenant", "acme", "--room", "acme-room", "--json"]);
    const { code } = await cli.exited();
    expect(code).toBe(0);
    const lines = cli
      .stdout()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { action: string; roomId: string; result: string });
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: "StopRoom", roomId: "acme-room", result: "permission_denied" }),
      ]),
    );
  });

  it("a flood of refused reads does not become a flood of audit writes; changes are always audited", async () => {
    const count = async () => {
      let n = 0;
      for await (const record of readAudit(stack.nc)) if (record.identity === "svc:flood") n++;
      return n;
    };
    const flood = await as("svc:flood");
    await Promise.all(Array.from({ length: 200 }, () => call(flood.getRoom.bind(flood), { roomId: "acme-room" })));
    const recorded = await count();
    expect(recorded).toBeGreaterThan(0);
    expect(recorded).toBeLessThan(100);
  });

  it("the stack still serves after all of the above", async () => {
    const acme = await as("svc:acme");
    await expect(call(acme.getRoom.bind(acme), { roomId: "acme-room" })).resolves.toMatchObject({ id: "acme-room" });
  });
});

function expectRefused(got: unknown, code: status, details: RegExp | string): void {
  expect(got).toMatchObject({ code });
  expect((got as { details: string }).details).toMatch(details);
}

function unsignedToken(subject: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: "none" })}.${part({ sub: subject, aud: "livehost", iat: now, exp: now + 600 })}.`;
}
