// gRPC over TLS and mTLS with certificates made by openssl: a real server refuses plaintext clients, clients
// without a certificate and clients whose certificate another CA signed; a worker dialled at its IP is checked
// against the configured server name; bad TLS settings name the option.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { credentials, type ChannelOptions } from "@grpc/grpc-js";
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
  mediaChannelOptions,
  type GrpcServer,
} from "./internal.js";
import { defaultChannelOptions } from "./tls.js";

async function check(
  server: GrpcServer,
  creds: ReturnType<typeof credentials.createInsecure>,
  options: { host?: string; channel?: ChannelOptions } = {},
) {
  const client = new HealthClient(`${options.host ?? "localhost"}:${server.port}`, creds, options.channel);
  try {
    const { status } = await callUnary(client.check.bind(client), { service: "" }, { timeoutMs: 5_000 });
    return HealthCheckResponse_ServingStatus[status];
  } finally {
    client.close();
  }
}

const openssl = (dir: string, ...args: string[]) => promisify(execFile)("openssl", args, { cwd: dir });

/** A server certificate signed by the test CA that names only `name` (no IP address). */
async function serverCertificate(dir: string, name: string) {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(dir, "req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
  await writeFile(join(dir, `${name}.ext`), `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth\n`);
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  );
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
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

  it("checks a server dialled at its IP against the configured server name, the one its certificate carries", async () => {
    await using pki = await makeTestPki();
    // As in Kubernetes: the workers' one certificate names a service, not the pod IPs rooms dial.
    const worker = await serverCertificate(pki.dir, "livehost-worker");
    const tls = await loadGrpcTls({ caFile: pki.ca, certFile: worker.cert, keyFile: worker.key });
    await using grpc = await startGrpcServer({ services: [], credentials: serverCredentialsFrom(tls) });
    const atIp = { host: "127.0.0.1", channel: mediaChannelOptions };

    await configureGrpcTls({ caFile: pki.ca });
    await expect(check(grpc, channelCredentials(), atIp)).rejects.toMatchObject({ code: "unavailable" });

    await configureGrpcTls({ caFile: pki.ca, serverName: "livehost-worker" });
    expect(await check(grpc, channelCredentials(), atIp)).toBe("SERVING");
    // The media options alone carry the name too, and so do the credentials alone (the CLI's clients).
    const caOnly = channelCredentialsFrom(await loadGrpcTls({ caFile: pki.ca }));
    expect(await check(grpc, caOnly, atIp)).toBe("SERVING");
    expect(await check(grpc, channelCredentials(), { host: "127.0.0.1" })).toBe("SERVING");
    expect(await check(grpc, channelCredentials(), { host: "127.0.0.1", channel: defaultChannelOptions() })).toBe(
      "SERVING",
    );

    await configureGrpcTls({ caFile: pki.ca, serverName: "livehost-gateway" });
    await expect(check(grpc, channelCredentials(), atIp)).rejects.toMatchObject({ code: "unavailable" });
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
    for (const serverName of ["10.0.0.7", "livehost-worker:50051", "https://livehost-worker", ""]) {
      await expect(loadGrpcTls({ caFile: pki.ca, serverName })).rejects.toMatchObject({ field: "--tls-server-name" });
    }
    await expect(configureGrpcTls({ serverName: "livehost-worker" })).rejects.toThrow(/--tls-server-name.*--tls-ca/);
  });
});
