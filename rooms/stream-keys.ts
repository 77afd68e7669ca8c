// RTMP stream keys for a room host's pushes: a room's spec names a secret (RtmpOutput.stream_key_secret), never the
// key, and the host reads the key from a file of that name in its stream-keys directory (`--stream-keys`; in the
// chart, a Kubernetes Secret mounted there, so a key changed in the Secret is read at the room's next start). The
// name was checked with the spec (no absolute path, no ".." segment); the key never reaches an event or a log.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { FailedPreconditionError } from "../errors/index.js";

/** How a room's media graph asks for a key by its secret's name. */
export type StreamKeys = (secretName: string) => Promise<string>;

const maxKeyLength = 1_024;

/** Keys from files under `dir`; without a directory every RTMP output is refused with the flag to set. */
export function streamKeysFrom(dir: string | undefined): StreamKeys {
  return async (secretName) => {
    if (!dir) {
      throw new FailedPreconditionError(
        `an RTMP output needs its stream key, and this room host has no stream keys (--stream-keys): secret ${JSON.stringify(secretName)}`,
      );
    }
    const text = await readFile(join(dir, secretName), "utf8").catch((err: NodeJS.ErrnoException) => {
      throw new FailedPreconditionError(
        `stream key secret ${JSON.stringify(secretName)} is not in this room host's stream keys (${err.code ?? err.message})`,
      );
    });
    const key = text.trim();
    // eslint-disable-next-line no-control-regex -- whitespace and controls cannot be part of a key in an RTMP URL
    if (!key || key.length > maxKeyLength || /[\s\u0000-\u001f\u007f]/.test(key)) {
      throw new FailedPreconditionError(
        `stream key secret ${JSON.stringify(secretName)} does not hold a usable key (1 to ${maxKeyLength} characters, no spaces)`,
      );
    }
    return key;
  };
}
