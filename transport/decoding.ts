// Requests that do not decode are the caller's mistake, answered INVALID_ARGUMENT naming what is wrong. Left to
// grpc-js, bytes that are not the method's message are answered INTERNAL ("Error deserializing request"), as is a
// 64-bit integer past 2^53 (ts-proto's number longs throw on it); and a string that is not UTF-8 is quietly decoded
// to U+FFFD. Every method of a livehost service decodes through here: what does not decode becomes an
// UndecodableRequest, which the handler adapters (grpc-server.ts) throw before the handler runs.
import { BinaryReader } from "@bufbuild/protobuf/wire";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { InvalidArgumentError } from "../errors/index.js";

/** Stands in for a request that did not decode, carrying the refusal its call is answered with. */
export class UndecodableRequest {
  constructor(readonly error: InvalidArgumentError) {}
}

/** The request a handler is given, or the refusal it stands for thrown. */
export function decodedRequest<Req>(request: Req | UndecodableRequest): Req {
  if (request instanceof UndecodableRequest) throw request.error;
  return request;
}

/** `definition` with every method's requests decoded by checkedDecoder. */
export function withCheckedDecoding(definition: ServiceDefinition): ServiceDefinition {
  const methods = Object.entries(definition).map(([name, method]) => [
    name,
    { ...method, requestDeserialize: checkedDecoder(method) },
  ]);
  return Object.fromEntries(methods) as ServiceDefinition;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lossyUtf8 = new TextDecoder("utf-8");
const largest = BigInt(Number.MAX_SAFE_INTEGER);
const smallest = BigInt(Number.MIN_SAFE_INTEGER);

type Problem = "invalid_utf8" | "too_large" | "too_small";

/**
 * A reader that notes what ts-proto would take silently or throw on without naming the field: invalid UTF-8 (read
 * lossily, as before) and 64-bit values a JavaScript number cannot hold exactly (read as the nearest safe integer,
 * a value the field is then found by).
 */
class CheckingReader extends BinaryReader {
  problem: Problem | undefined;

  override string(): string {
    const bytes = this.bytes();
    try {
      return strictUtf8.decode(bytes);
    } catch {
      this.problem ??= "invalid_utf8";
      return lossyUtf8.decode(bytes);
    }
  }
  override int64(): bigint {
    return this.#safe(super.int64());
  }
  override uint64(): bigint {
    return this.#safe(super.uint64());
  }
  override sint64(): bigint {
    return this.#safe(super.sint64());
  }
  override fixed64(): bigint {
    return this.#safe(super.fixed64());
  }
  override sfixed64(): bigint {
    return this.#safe(super.sfixed64());
  }

  #safe(value: bigint | string): bigint {
    const n = BigInt(value);
    if (n > largest) {
      this.problem ??= "too_large";
      return largest;
    }
    if (n < smallest) {
      this.problem ??= "too_small";
      return smallest;
    }
    return n;
  }
}

const invalidDate = (value: unknown) => value instanceof Date && Number.isNaN(value.getTime());

const problems: Record<Problem, { found: (value: unknown) => boolean; message: string }> = {
  invalid_utf8: {
    found: (value) => typeof value === "string" && value.includes("\uFFFD"),
    message: "is not valid UTF-8",
  },
  // A Timestamp's seconds held so become a Date past what a Date holds.
  too_large: {
    found: (value) => value === Number.MAX_SAFE_INTEGER || invalidDate(value),
    message: `is larger than ${Number.MAX_SAFE_INTEGER} (2^53 - 1), the largest integer livehost takes`,
  },
  too_small: {
    found: (value) => value === Number.MIN_SAFE_INTEGER || invalidDate(value),
    message: `is smaller than ${Number.MIN_SAFE_INTEGER} (-(2^53 - 1)), the smallest integer livehost takes`,
  },
};

/** The method's own decoder, with what it throws on or takes silently turned into an UndecodableRequest. */
function checkedDecoder(method: MethodDefinition<unknown, unknown>): (bytes: Buffer) => unknown {
  const decode = method.requestDeserialize;
  return (bytes) => {
    const reader = new CheckingReader(bytes);
    let request: unknown;
    try {
      // ts-proto's generated deserializer hands its argument to Message.decode, which takes a reader as well.
      request = decode(reader as unknown as Buffer);
    } catch (err) {
      // Thrown before reading a byte: a deserializer that is not ts-proto's, left to decode the bytes itself.
      if (reader.pos === 0 && bytes.length > 0) return decode(bytes);
      const reason = err instanceof Error ? err.message : String(err);
      return new UndecodableRequest(
        new InvalidArgumentError("request", `is not a valid protobuf message for ${method.path} (${reason})`, {
          cause: err,
        }),
      );
    }
    // A deserializer that did not read from the reader (not ts-proto's) decodes the bytes itself, unchecked.
    if (reader.pos !== bytes.length) return decode(bytes);
    if (!reader.problem) return request;
    const { found, message } = problems[reader.problem];
    return new UndecodableRequest(new InvalidArgumentError(fieldWhere(request, found) ?? "request", message));
  };
}

/**
 * The path of the first value in a decoded message that `found` matches, in the .proto's field names
 * (ts-proto's camelCase back to snake_case; a oneof's member by its own name), e.g. "spec.catalog.products[2].title".
 * A map's entries read as fields ("labels.merchant"), except a key that is itself the value found ("labels[…]").
 */
function fieldWhere(value: unknown, found: (value: unknown) => boolean, path = ""): string | undefined {
  if (found(value)) return path;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const at = fieldWhere(item, found, `${path}[${i}]`);
      if (at !== undefined) return at;
    }
    return undefined;
  }
  if (typeof value !== "object" || value === null || value instanceof Date || ArrayBuffer.isView(value)) {
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    if (found(key)) return `${path}[${key}]`;
    const oneof = item as { $case?: unknown; value?: unknown } | undefined;
    const at =
      typeof oneof?.$case === "string"
        ? fieldWhere(oneof.value, found, join(path, oneof.$case))
        : fieldWhere(item, found, join(path, key));
    if (at !== undefined) return at;
  }
  return undefined;
}

const join = (path: string, key: string) => {
  const name = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return path === "" ? name : `${path}.${name}`;
};
