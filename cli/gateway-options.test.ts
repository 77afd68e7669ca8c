// The gateway's trust options as an SRE passes them: local mode only on loopback, a policy with a way to know
// callers everywhere else, and the product-picture hosts of the room host checked as host names.
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../errors/index.js";
import { compileGatewayOptions, compileRoomHostOptions } from "./config.js";

const local = { nats: "nats://127.0.0.1:4222" };

function refusal(compile: () => unknown): InvalidArgumentError | undefined {
  try {
    compile();
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err;
    throw err;
  }
  return undefined;
}

describe("the gateway's trust options", () => {
  it("uses local mode's development credential on loopback only", () => {
    expect(compileGatewayOptions(local).auth).toMatchObject({ development: true });
    expect(refusal(() => compileGatewayOptions({ ...local, host: "0.0.0.0" }))?.field).toBe("--auth-policy");
  });

  it("needs a way to know callers with a policy: a JWKS, or client certificates", () => {
    const policy = { ...local, host: "0.0.0.0", authPolicy: "/etc/livehost/auth/policy.yaml" };
    expect(refusal(() => compileGatewayOptions(policy))?.field).toBe("--auth-jwks");
    expect(compileGatewayOptions({ ...policy, authJwks: "/etc/livehost/auth/jwks.json" }).auth).toMatchObject({
      development: false,
      policyFile: "/etc/livehost/auth/policy.yaml",
      jwksFile: "/etc/livehost/auth/jwks.json",
      certificates: false,
    });
  });

  it("serves WHEP alone on --whep-port (a cluster's viewers), on the gateway's host, and refuses a bad port", () => {
    expect(compileGatewayOptions(local).whep).toBeUndefined();
    expect(compileGatewayOptions({ ...local, whepPort: "8089" }).whep).toEqual({ host: "127.0.0.1", port: 8089 });
    expect(refusal(() => compileGatewayOptions({ ...local, whepPort: "70000" }))?.field).toBe("--whep-port");
  });

  it("shares rate quotas by the replica count, and keeps the audit trail as long as asked", () => {
    const { auth } = compileGatewayOptions({ ...local, gatewayReplicas: "3", auditRetention: "720h" });
    expect(auth).toMatchObject({ gateways: 3, audit: { retentionMs: 720 * 3_600_000, maxBytes: 1024 ** 3 } });
    expect(refusal(() => compileGatewayOptions({ ...local, gatewayReplicas: "0" }))?.field).toBe("--gateway-replicas");
  });

  it("takes product-picture hosts as host names only", () => {
    const options = { ...local, avatars: "/avatars", mediaDir: "/media" };
    expect(compileRoomHostOptions({ ...options, imageHosts: "img.example.com, *.cdn.example.com" }).live).toMatchObject(
      {
        imageHosts: ["img.example.com", "*.cdn.example.com"],
      },
    );
    expect(refusal(() => compileRoomHostOptions({ ...options, imageHosts: "https://img.example.com/" }))?.field).toBe(
      "--image-hosts",
    );
  });

  it("keeps 64 MiB of each room's show rendered ahead by default, and takes another size with its unit", () => {
    const options = { ...local, avatars: "/avatars", mediaDir: "/media" };
    expect(compileRoomHostOptions(options).live?.renderAhead).toEqual({ maxBytesPerRoom: 64 * 1024 ** 2 });
    expect(compileRoomHostOptions({ ...options, renderAheadMaxBytes: "16Mi" }).live?.renderAhead).toEqual({
      maxBytesPerRoom: 16 * 1024 ** 2,
    });
    expect(refusal(() => compileRoomHostOptions({ ...options, renderAheadMaxBytes: "lots" }))?.field).toBe(
      "--render-ahead-max-bytes",
    );
  });
});
