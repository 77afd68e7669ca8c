// Test certificates made with Debian's openssl: a CA, a server certificate for 127.0.0.1/localhost and client
// certificates, in a temporary directory removed on dispose. For TLS and mTLS integration tests.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki extends AsyncDisposable {
  dir: string;
  /** CA certificate (PEM) every certificate below is signed by. */
  ca: string;
  server: CertFiles;
  /** Makes a client certificate with this common name, signed by the CA (or by another, unrelated CA). */
  client(name: string, options?: { untrusted?: boolean; san?: string }): Promise<CertFiles>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run("openssl", args, { cwd });
}

async function keyAndCsr(dir: string, name: string, subject: string): Promise<void> {
  await openssl(
    ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].concat([
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subject,
    ]),
    dir,
  );
}

async function selfSigned(dir: string, name: string): Promise<void> {
  await openssl(
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].concat([
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-subj",
      `/CN=${name}`,
      "-days",
      "2",
    ]),
    dir,
  );
}

async function sign(dir: string, ca: string, name: string, extensions: string): Promise<CertFiles> {
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(
    ["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial"].concat([
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]),
    dir,
  );
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "livehost-pki-"));
  try {
    await selfSigned(dir, "ca");
    await keyAndCsr(dir, "server", "/CN=localhost");
    const server = await sign(
      dir,
      "ca",
      "server",
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    let untrustedCa = false;
    return {
      dir,
      ca: join(dir, "ca.crt"),
      server,
      client: async (name, options = {}) => {
        const issuer = options.untrusted ? "rogue-ca" : "ca";
        if (options.untrusted && !untrustedCa) {
          await selfSigned(dir, "rogue-ca");
          untrustedCa = true;
        }
        await keyAndCsr(dir, name, `/CN=${name}`);
        const san = options.san ? `subjectAltName=${options.san}\n` : "";
        return sign(dir, issuer, name, `extendedKeyUsage=clientAuth\n${san}`);
      },
      [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
