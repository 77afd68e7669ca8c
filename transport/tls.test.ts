// gRPC over TLS and mTLS with certificates made by openssl: a real server refuses plaintext clients, clients
// without a certificate and clients whose certificate another CA signed; bad TLS settings name the option.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { makeTestPki } from "../charts/testing/certs.js";
import { HealthClient, HealthCheckResponse_ServingStatus } from "../proto/index.js";
import {
  callUnary,
  channelCredentials,
  channelCredentialsFrom,
  configureGrpcTls,
  loadGrpcTls,
  serverCredentialsFrom,
  startGrpcServer,
  type GrpcServer,
} from "./index.js";

async function check(server: GrpcServer, creds: ReturnType<typeof credentials.createInsecure>) {
  const client = new HealthClient(`localhost:${server.port}`, creds);
  try {
    const { status } = await callUnary(client.check.bind(client), { service: "" }, { timeoutMs: 5_000 });
    return HealthCheckResponse_ServingStatus[status];
  } finally {
    client.close();
  }
}

afterEach(() => configureGrpcTls(undefined));

describe("gRPC TLS", () => {
  it("with mTLS serves clients holding a certificate from the CA and refuses every other client", async () => {
    await using pki = await makeTestPki();
    const server = await loadGrpcTls({
      caFile: pki.ca,
      certFile: pki.server.cert,
      keyFile: pki.server.key,
      requireClientCert: true,
    });
    await using grpc = await startGrpcServer({ services: [], credentials: serverCredentialsFrom(server) });
    const room = await pki.client("room-host");
    const rogue = await pki.client("intruder", { untrusted: true });

    const trusted = await loadGrpcTls({ caFile: pki.ca, certFile: room.cert, keyFile: room.key });
    expect(await check(grpc, channelCredentialsFrom(trusted))).toBe("SERVING");

    const withoutCert = await loadGrpcTls({ caFile: pki.ca });
    await expect(check(grpc, channelCredentialsFrom(withoutCert))).rejects.toMatchObject({ code: "unavailable" });
    const otherCa = await loadGrpcTls({ caFile: pki.ca, certFile: rogue.cert, keyFile: rogue.key });
    await expect(check(grpc, channelCredentialsFrom(otherCa))).rejects.toMatchObject({ code: "unavailable" });
    await expect(check(grpc, credentials.createInsecure())).rejects.toMatchObject({ code: "unavailable" });
  });

  it("configured once for the process, is what servers and channels use by default", async () => {
    await using pki = await makeTestPki();
    const room = await pki.client("gateway");
    await configureGrpcTls({ caFile: pki.ca, certFile: pki.server.cert, keyFile: pki.server.key });
    await using grpc = await startGrpcServer({ services: [] });
    // A client of the same process presents the process's certificate and trusts its CA.
    expect(await check(grpc, channelCredentials())).toBe("SERVING");
    await expect(check(grpc, credentials.createInsecure())).rejects.toMatchObject({ code: "unavailable" });
    await configureGrpcTls({ caFile: pki.ca, certFile: room.cert, keyFile: room.key });
    expect(await check(grpc, channelCredentials())).toBe("SERVING");
  });

  it("names the option that is wrong", async () => {
    await using pki = await makeTestPki();
    await expect(loadGrpcTls({ certFile: pki.server.cert })).rejects.toMatchObject({ field: "--tls-key" });
    await expect(
      loadGrpcTls({ certFile: pki.server.cert, keyFile: pki.server.key, requireClientCert: true }),
    ).rejects.toMatchObject({ field: "--tls-ca" });
    await expect(loadGrpcTls({ caFile: join(pki.dir, "missing.crt") })).rejects.toThrow(/--tls-ca.*ENOENT/);
    const notPem = join(pki.dir, "not-pem.crt");
    await writeFile(notPem, "hello");
    await expect(loadGrpcTls({ caFile: notPem })).rejects.toThrow(/not a PEM file/);
  });
});
