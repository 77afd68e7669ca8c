import { describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError } from "../errors/index.js";
import { Policy, PolicyFile } from "./internal.js";

const good = `
tenants:
  acme: { tier: gold, quotas: { liveRooms: 10, sayPerMinute: 5 } }
  globex: {}
callers:
  - { identity: "svc:acme", tenants: [acme], role: merchant }
  - { identity: "spiffe://cluster.local/ns/ingest/sa/*", tenants: ["*"], role: ingest }
`;

describe("policy", () => {
  it("binds identities (exact, or a prefix ending in *) to tenants and a role", () => {
    const policy = Policy.parse(good);
    const acme = policy.callerOf("svc:acme")!;
    expect(acme.role).toBe("merchant");
    expect(acme.servesTenant("acme")).toBe(true);
    expect(acme.servesTenant("globex")).toBe(false);
    expect(acme.defaultTenant()).toBe("acme");
    expect(acme.may("StopRoom")).toBe(true);
    const ingest = policy.callerOf("spiffe://cluster.local/ns/ingest/sa/danmaku")!;
    expect(ingest.may("PostComment")).toBe(true);
    expect(ingest.may("StopRoom")).toBe(false);
    expect(ingest.servesTenant("globex")).toBe(true);
    expect(policy.callerOf("svc:acme2")).toBeUndefined();
    expect(policy.tenants.get("acme")).toEqual({ tier: "gold", quotas: { liveRooms: 10, sayPerMinute: 5 } });
    expect(policy.tenants.get("globex")).toEqual({ tier: "silver", quotas: {} });
    expect(policy.callerOf("spiffe://cluster.local/ns/other/sa/x")).toBeUndefined();
  });

  it.each([
    ["not YAML", "tenants: [", "policy"],
    ["an unknown field", "tenants: {}\nusers: []", "policy.users"],
    ["a bad tenant id", "tenants: { ACME: {} }", "policy.tenants"],
    ["an unknown tier", "tenants: { acme: { tier: platinum } }", "policy.tenants.acme.tier"],
    ["a negative quota", "tenants: { acme: { quotas: { liveRooms: -1 } } }", "policy.tenants.acme.quotas.liveRooms"],
    ["an unknown quota", "tenants: { acme: { quotas: { rooms: 5 } } }", "policy.tenants.acme.quotas.rooms"],
    [
      "an unknown role",
      "tenants: { acme: {} }\ncallers: [{ identity: a, tenants: [acme], role: root }]",
      "policy.callers[0].role",
    ],
    [
      "an undeclared tenant",
      "callers: [{ identity: a, tenants: [acme], role: merchant }]",
      "policy.callers[0].tenants",
    ],
    ["a bare * identity", "callers: [{ identity: '*', tenants: ['*'], role: admin }]", "policy.callers[0].identity"],
    ["no tenants", "callers: [{ identity: a, tenants: [], role: admin }]", "policy.callers[0].tenants"],
  ])("refuses %s, naming the field", (_what, text, field) => {
    let error: unknown;
    try {
      Policy.parse(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe(field);
  });

  it("a file change applies whole when valid; an invalid change keeps the policy in force", async () => {
    const dir = await mkdtemp(join(tmpdir(), "livehost-policy-"));
    try {
      const file = join(dir, "policy.yaml");
      await writeFile(file, good);
      using policy = await PolicyFile.open(file, { pollMs: 60_000 });
      await writeFile(file, `${good}\n  - { identity: "svc:new", tenants: [globex], role: console }\n`);
      expect(await policy.reload()).toBe(true);
      expect(policy.current.callerOf("svc:new")?.role).toBe("console");
      await writeFile(file, "callers: [{ identity: svc:acme, tenants: [nowhere], role: merchant }]");
      expect(await policy.reload()).toBe(false);
      expect(policy.current.callerOf("svc:new")?.role).toBe("console");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
