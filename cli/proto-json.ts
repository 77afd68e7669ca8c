// The protobuf JSON files the CLI reads (--spec, --catalog, --persona, --set), checked before ts-proto's fromJSON
// reads them: fromJSON drops fields it does not know and turns bad values into NaN or UNRECOGNIZED (-1), which later
// fail without the field's name, or not at all. A bad file is refused naming its flag and the field's JSON path,
// e.g. `--spec: voice.speeed: unknown field`.
//
// The generated code carries no field metadata, so the shapes are written here. Their types come from the generated
// interfaces (a field added to the .proto fails the build until its shape has it), and proto-json.test.ts holds
// every field's check to a reference parser reading the .proto files.
import { readFile } from "node:fs/promises";
import {
  AiLabel_Position,
  AvatarRenderer,
  Catalog,
  InterruptionPolicy,
  Persona,
  type Money,
  RoomSpec,
  ShowScript,
} from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";

type NumberKind = "int32" | "uint32" | "int64" | "uint64" | "float" | "double";

/** How one field reads in protobuf JSON, as the runtime check sees it. */
type Field =
  | "string"
  | "bool"
  | NumberKind
  | "timestamp"
  | { enum: Record<string, string | number> }
  | { list: Field }
  | { map: Field }
  | { oneof: Record<string, Field> }
  | { message: Shape };
type Shape = Record<string, Field>;

/**
 * The shape a field of TypeScript type V must have: the compiler holds each shape to its generated interface. A
 * number is one of the number kinds (which one, the .proto says), an enum names its own enum object, and a oneof
 * (ts-proto's { $case, value }) lists its choices, each a key of its own in JSON.
 */
type FieldOf<V> = [V] extends [string]
  ? "string"
  : [V] extends [boolean]
    ? "bool"
    : [V] extends [number]
      ? `${number}` extends `${V}` // a plain number; an enum's members are a few numbers
        ? NumberKind
        : { enum: Record<string, V | string> }
      : [V] extends [Date]
        ? "timestamp"
        : [V] extends [readonly (infer E)[]]
          ? { list: FieldOf<E> }
          : [V] extends [{ $case: string; value: unknown }]
            ? { oneof: { [C in V["$case"]]: FieldOf<Extract<V, { $case: C }>["value"]> } }
            : string extends keyof V
              ? { map: FieldOf<V[string]> }
              : { message: MessageShape<V> };

/** Every field of message T, by its name in JSON (lowerCamelCase; the .proto's snake_case name is taken too). */
type MessageShape<T> = { [K in keyof T]-?: FieldOf<NonNullable<T[K]>> };

// The shapes of RoomSpec and every message in it, leaves first.
const money: MessageShape<Money> = { currency: "string", amountMinor: "int64" };
const catalog: MessageShape<Catalog> = {
  title: "string",
  language: "string",
  currency: "string",
  products: {
    list: {
      message: {
        id: "string",
        title: "string",
        price: { message: money },
        originalPrice: { message: money },
        stock: "int32",
        restockDate: "string",
        specs: { list: { message: { name: "string", values: { list: "string" } } } },
        sizeGuide: { map: "string" },
        sellingPoints: { list: "string" },
        shipping: "string",
        afterSales: "string",
        coupons: {
          list: {
            message: { id: "string", title: "string", threshold: { message: money }, discount: { message: money } },
          },
        },
        imageUri: "string",
      },
    },
  },
};
const persona: MessageShape<Persona> = {
  id: "string",
  name: "string",
  language: "string",
  style: "string",
  catchphrases: { list: "string" },
  rules: { list: "string" },
};
const showScript: MessageShape<ShowScript> = {
  version: "uint32",
  author: "string",
  variations: {
    list: { message: { lines: { list: { message: { kind: "string", productId: "string", text: "string" } } } } },
  },
  updateTime: "timestamp",
  fallbackReason: "string",
  rewriteAhead: "bool",
};
const roomSpec: MessageShape<RoomSpec> = {
  displayName: "string",
  catalog: { message: catalog },
  persona: { message: persona },
  voice: { message: { voiceId: "string", speed: "float" } },
  avatar: { message: { avatarId: "string", renderer: { enum: AvatarRenderer } } },
  output: {
    message: {
      video: { message: { widthPx: "uint32", heightPx: "uint32", fps: "uint32", bitrateKbps: "uint32" } },
      audioBitrateKbps: "uint32",
      outputs: {
        list: {
          message: {
            kind: {
              oneof: {
                hls: { message: { segmentDurationS: "uint32", playlistLength: "uint32" } },
                rtmp: { message: { url: "string", streamKeySecret: "string" } },
                recording: { message: { path: "string", segmentDurationS: "uint32" } },
              },
            },
          },
        },
      },
      aiLabel: {
        message: { hideVisible: "bool", text: "string", language: "string", position: { enum: AiLabel_Position } },
      },
    },
  },
  schedule: { message: { startTime: "timestamp", endTime: "timestamp" } },
  labels: { map: "string" },
  show: {
    message: {
      interruption: { enum: InterruptionPolicy },
      answersBetweenShowSentences: "uint32",
      renderAhead: "bool",
    },
  },
  script: { message: showScript },
};

/** A reader of one message's protobuf JSON: checked first, then ts-proto's fromJSON. */
function reader<T>(codec: { fromJSON(object: unknown): T }, shape: MessageShape<T>) {
  /** `at` is where the message sits in the file, when it is not the whole file (e.g. "personas[0]"). */
  return (json: unknown, flag: string, at = ""): T => {
    checkMessage(json, shape, { flag, path: at });
    return codec.fromJSON(json);
  };
}

export const roomSpecFromJson = reader(RoomSpec, roomSpec);
export const catalogFromJson = reader(Catalog, catalog);
export const personaFromJson = reader(Persona, persona);
export const showScriptFromJson = reader(ShowScript, showScript);

/** The JSON in `file`, named by `flag` if it cannot be read or is not JSON. */
export async function readJsonFile(file: string, flag: string): Promise<unknown> {
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new InvalidArgumentError(flag, `${file} is not readable JSON: ${err.code ?? err.message}`, { cause: err });
  });
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidArgumentError(flag, `${file} is not readable JSON: ${(err as Error).message}`, { cause: err });
  }
}

interface At {
  flag: string;
  path: string;
}

const fail = (at: At, problem: string): never => {
  throw new InvalidArgumentError(at.flag, at.path === "" ? problem : `${at.path}: ${problem}`);
};
const child = (at: At, key: string): At => ({ ...at, path: at.path === "" ? key : `${at.path}.${key}` });
const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function checkMessage(value: unknown, shape: Shape, at: At): void {
  if (!isObject(value)) return fail(at, "must be a JSON object");
  const keys = jsonKeys(shape);
  // The key that set each field (or oneof) so far.
  const given = new Map<string, string>();
  for (const [key, item] of Object.entries(value)) {
    const entry = keys.get(key);
    if (entry === undefined) {
      const known = [...new Set([...keys.values()].map((e) => e.name))];
      return fail(child(at, key), `unknown field (known: ${known.join(", ")})`);
    }
    // Protobuf JSON's null is the field's default.
    if (item === null) continue;
    const earlier = given.get(entry.slot);
    if (earlier !== undefined) {
      const rule = entry.choices ? `${entry.slot} takes only one of ${entry.choices}` : "they are one field";
      return fail(child(at, key), `${earlier} is set too: ${rule}`);
    }
    given.set(entry.slot, key);
    checkField(item, entry.field, child(at, key));
  }
}

/**
 * A message's JSON keys: each field's JSON name and its .proto name, and for a oneof, each choice's (a oneof is no
 * key of its own in JSON). `slot` is the field or oneof a key sets.
 */
function jsonKeys(shape: Shape): Map<string, { name: string; slot: string; field: Field; choices?: string }> {
  const keys = new Map<string, { name: string; slot: string; field: Field; choices?: string }>();
  for (const [slot, field] of Object.entries(shape)) {
    const oneof = typeof field === "object" && "oneof" in field ? field.oneof : undefined;
    const choices = oneof ? Object.keys(oneof).join(", ") : undefined;
    for (const [name, choiceField] of oneof ? Object.entries(oneof) : [[slot, field] as const]) {
      const entry = { name, slot, field: choiceField, choices };
      keys.set(name, entry).set(snakeCase(name), entry);
    }
  }
  return keys;
}

function checkField(value: unknown, field: Field, at: At): void {
  if (typeof field === "string") return checkScalar(value, field, at);
  if ("message" in field) return checkMessage(value, field.message, at);
  if ("enum" in field) return checkEnum(value, field.enum, at);
  if ("list" in field) {
    if (!Array.isArray(value)) return fail(at, "must be a JSON array");
    value.forEach((item, i) => checkField(item, field.list, { ...at, path: `${at.path}[${i}]` }));
    return;
  }
  if ("map" in field) {
    if (!isObject(value)) return fail(at, "must be a JSON object");
    for (const [key, item] of Object.entries(value)) checkField(item, field.map, child(at, key));
  }
}

/** Whole-number kinds' bounds; a 64-bit one is held in a JavaScript number (ts-proto's forceLong=number). */
const wholeBounds: Partial<Record<NumberKind, [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};
const floatMax = 3.4028234663852886e38;

function checkScalar(value: unknown, kind: Exclude<Field, object>, at: At): void {
  switch (kind) {
    case "string":
      if (typeof value !== "string") fail(at, "must be a JSON string");
      return;
    case "bool":
      if (typeof value !== "boolean") fail(at, "must be true or false");
      return;
    case "timestamp":
      // RFC 3339 with a time zone, as protobuf JSON writes a Timestamp.
      if (
        typeof value !== "string" ||
        !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/i.test(value) ||
        Number.isNaN(new Date(value).getTime())
      ) {
        fail(at, 'must be an RFC 3339 time, e.g. "2026-01-02T15:04:05Z"');
      }
      return;
    case "float":
    case "double": {
      // Protobuf JSON takes a number, or one in a string, and these three words.
      if (value === "NaN" || value === "Infinity" || value === "-Infinity") return;
      const n = numberOf(value);
      const max = kind === "float" ? floatMax : Number.MAX_VALUE;
      if (!Number.isFinite(n) || Math.abs(n) > max) fail(at, `must be a number from -${max} to ${max}`);
      return;
    }
    default: {
      const [min, max] = wholeBounds[kind]!;
      const n = numberOf(value);
      if (!Number.isInteger(n) || n < min || n > max) fail(at, `must be a whole number from ${min} to ${max}`);
    }
  }
}

/** A JSON number, or a number written as a string (protobuf JSON's 64-bit integers); NaN otherwise. */
function numberOf(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value.trim() !== "" && value.trim() === value) return Number(value);
  return NaN;
}

/** An enum by its name, or by its number; UNRECOGNIZED is ts-proto's, never the file's. */
function checkEnum(value: unknown, enumObject: Record<string, string | number>, at: At): void {
  const declared = Object.entries(enumObject).filter(
    (entry): entry is [string, number] => typeof entry[1] === "number" && entry[0] !== "UNRECOGNIZED",
  );
  if (declared.some(([name, number]) => value === name || value === number)) return;
  const shown = typeof value === "string" ? value : JSON.stringify(value);
  fail(at, `${shown} is not one of ${declared.map(([name]) => name).join(", ")}`);
}
