// The protobuf JSON files the CLI reads (--spec, --catalog, --persona, --set), as a user writes them: a bad field is
// refused naming the flag and the field's JSON path. Every field of every message is also held to a reference
// parser (@bufbuild/protobuf's fromJson on protoc's reading of the .proto files), so the shapes in proto-json.ts
// cannot drift from the contracts unnoticed.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ScalarType, createFileRegistry, fromBinary, fromJson, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { RoomSpec } from "../proto/index.js";
import { sampleRoomSpec } from "../testing/index.js";
import { catalogFromJson, personaFromJson, roomSpecFromJson, showScriptFromJson } from "./proto-json.js";

/** The message or the InvalidArgumentError's message. */
function refusal(parse: () => unknown): string | undefined {
  try {
    parse();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

describe("protobuf JSON files", () => {
  it("takes a RoomSpec written by toJSON, and the .proto's own field names", () => {
    const spec = sampleRoomSpec();
    expect(roomSpecFromJson(RoomSpec.toJSON(spec), "--spec")).toEqual(spec);
    const snake = { display_name: "x", voice: { voice_id: "en-male-bright" }, show: { render_ahead: true } };
    expect(roomSpecFromJson(snake, "--spec")).toMatchObject({
      displayName: "x",
      voice: { voiceId: "en-male-bright" },
      show: { renderAhead: true },
    });
  });

  it("refuses what fromJSON would drop or bend, naming the flag and the field's path", () => {
    const refused = (json: unknown) => refusal(() => roomSpecFromJson(json, "--spec"));
    expect(refused({ bogusField: 1 })).toMatch(/^--spec: bogusField: unknown field \(known: displayName, catalog, /);
    expect(refused({ voice: { voiceId: "a", speeed: 1.2 } })).toBe(
      "--spec: voice.speeed: unknown field (known: voiceId, speed)",
    );
    expect(refused({ output: { video: { widthPx: "abc" } } })).toBe(
      "--spec: output.video.widthPx: must be a whole number from 0 to 4294967295",
    );
    expect(refused({ catalog: { products: [{ id: "p1" }, { stock: 3_000_000_000 }] } })).toBe(
      "--spec: catalog.products[1].stock: must be a whole number from -2147483648 to 2147483647",
    );
    expect(refused({ catalog: { products: [{ price: { amountMinor: 12.5 } }] } })).toMatch(
      /^--spec: catalog\.products\[0\]\.price\.amountMinor: must be a whole number/,
    );
    // ts-proto keeps 64-bit integers in JavaScript numbers: one beyond what they hold exactly would change.
    expect(refused({ catalog: { products: [{ price: { amountMinor: "9007199254740993" } }] } })).toMatch(
      /amountMinor: must be a whole number from -9007199254740991 to 9007199254740991/,
    );
    expect(refused({ show: { interruption: "INTERRUPTION_POLICY_BOGUS" } })).toBe(
      "--spec: show.interruption: INTERRUPTION_POLICY_BOGUS is not one of INTERRUPTION_POLICY_UNSPECIFIED, " +
        "INTERRUPTION_POLICY_NOW, INTERRUPTION_POLICY_NEXT_SENTENCE, INTERRUPTION_POLICY_AFTER_PRODUCT",
    );
    expect(refused({ show: { interruption: 7 } })).toMatch(/^--spec: show\.interruption: 7 is not one of /);
    expect(refused({ voice: { speed: "fast" } })).toMatch(/^--spec: voice\.speed: must be a number from /);
    expect(refused({ show: { renderAhead: "false" } })).toBe("--spec: show.renderAhead: must be true or false");
    expect(refused({ schedule: { startTime: "tomorrow" } })).toMatch(/^--spec: schedule\.startTime: must be an RFC/);
    expect(refused({ output: { outputs: [{ hls: {}, rtmp: { url: "rtmp://x" } }] } })).toBe(
      "--spec: output.outputs[0].rtmp: hls is set too: kind takes only one of hls, rtmp, recording",
    );
    expect(refused({ voice: { voiceId: "a", voice_id: "b" } })).toBe(
      "--spec: voice.voice_id: voiceId is set too: they are one field",
    );
    expect(refused([])).toBe("--spec: must be a JSON object");
  });

  it("checks each of its files the same way", () => {
    expect(refusal(() => catalogFromJson({ roomTitle: "x" }, "--catalog"))).toMatch(/^--catalog: roomTitle: unknown/);
    expect(refusal(() => personaFromJson({ voice: "x" }, "--persona", "personas[0]"))).toMatch(
      /^--persona: personas\[0\]\.voice: unknown field/,
    );
    expect(refusal(() => showScriptFromJson({ version: -1 }, "--set"))).toMatch(/^--set: version: must be a whole/);
  });

  it("agrees with a reference protobuf JSON parser on every field of every message", () => {
    const registry = protocRegistry();
    const readers = [
      { message: "livehost.v1.RoomSpec", read: roomSpecFromJson },
      { message: "livehost.v1.Catalog", read: catalogFromJson },
      { message: "livehost.v1.Persona", read: personaFromJson },
      { message: "livehost.v1.ShowScript", read: showScriptFromJson },
    ];
    const disagreements: string[] = [];
    let tried = 0;
    for (const { message, read } of readers) {
      const desc = registry.getMessage(message)!;
      for (const { path, json } of cases(desc)) {
        tried++;
        const ours = refusal(() => read(json, "--flag"));
        const reference = refusal(() => fromJson(desc, json as never));
        if ((ours === undefined) !== (reference === undefined)) {
          disagreements.push(
            `${JSON.stringify(json)}: ours ${ours ?? "takes it"}; reference ${reference ?? "takes it"}`,
          );
        } else if (ours !== undefined && !ours.startsWith(`--flag: ${path}: `)) {
          disagreements.push(`${JSON.stringify(json)}: "${ours}" does not name ${path}`);
        }
      }
    }
    expect(disagreements).toEqual([]);
    expect(tried).toBeGreaterThan(500);
  });
});

/** The livehost contracts as protoc reads them. */
function protocRegistry() {
  const dir = mkdtempSync(join(tmpdir(), "livehost-proto-json-"));
  try {
    const out = join(dir, "set.pb");
    const files = ["livehost/v1/room.proto", "livehost/v1/common.proto"];
    execFileSync("protoc", ["-Iproto", "-I/usr/include", "--include_imports", `--descriptor_set_out=${out}`, ...files]);
    return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(out)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Values of each kind, good and bad, as a user might write them. */
const samples: Record<string, unknown[]> = {
  string: ["x", "", 1, true, {}],
  bool: [true, false, "true", 1],
  int32: [0, -1, 2147483647, -2147483648, "12", 2147483648, 1.5, "abc", "", true],
  uint32: [0, 4294967295, "7", -1, 4294967296, 1.5, "x"],
  int64: [0, -5, "123", "-9007199254740991", 1.5, "x", true],
  float: [0, 1.5, -2, "2.5", "NaN", "Infinity", 1e39, "abc", true],
  timestamp: ["2026-01-02T15:04:05Z", "2026-01-02T15:04:05.123+08:00", "2026-01-02", "yesterday", 5],
  message: [[], "x", 1],
  list: ["x", {}, 1],
  map: [[], "x"],
};
const scalarKinds: Partial<Record<ScalarType, string>> = {
  [ScalarType.STRING]: "string",
  [ScalarType.BOOL]: "bool",
  [ScalarType.INT32]: "int32",
  [ScalarType.UINT32]: "uint32",
  [ScalarType.INT64]: "int64",
  [ScalarType.FLOAT]: "float",
};

/** Every field of `message` and the messages in it with each sample value, and an unknown field in each message. */
function* cases(
  message: DescMessage,
  path = "",
  wrap: (value: unknown) => unknown = (v) => v,
): Generator<{ path: string; json: unknown }> {
  const at = (key: string) => (path === "" ? key : `${path}.${key}`);
  yield { path: at("bogusField"), json: wrap({ bogusField: 1 }) };
  for (const field of message.fields) {
    const key = field.jsonName;
    const set = (value: unknown) => wrap({ [key]: value });
    // The .proto's own name is taken too.
    if (field.name !== key && field.fieldKind === "scalar") {
      yield { path: at(field.name), json: wrap({ [field.name]: samples[scalarKinds[field.scalar]!]![0] }) };
    }
    if (field.fieldKind === "list") {
      for (const v of samples.list!) yield { path: at(key), json: set(v) };
      yield* values(field.listKind, field, `${at(key)}[0]`, (v) => set([v]));
    } else if (field.fieldKind === "map") {
      for (const v of samples.map!) yield { path: at(key), json: set(v) };
      yield* values(field.mapKind, field, `${at(key)}.k`, (v) => set({ k: v }));
    } else {
      yield* values(field.fieldKind, field, at(key), set);
    }
  }
}

/** One value's samples (a field's, a list's element's, a map's value's) at `path`; a message's fields in turn. */
function* values(
  kind: "scalar" | "enum" | "message",
  desc: { scalar?: ScalarType; enum?: { values: { name: string; number: number }[] }; message?: DescMessage },
  path: string,
  put: (value: unknown) => unknown,
): Generator<{ path: string; json: unknown }> {
  let tried: unknown[];
  if (kind === "scalar") tried = samples[scalarKinds[desc.scalar!]!]!;
  else if (kind === "enum") tried = [...desc.enum!.values.flatMap((v) => [v.name, v.number]), "BOGUS_NAME", true];
  else if (desc.message!.typeName === "google.protobuf.Timestamp") tried = samples.timestamp!;
  else {
    for (const v of samples.message!) yield { path, json: put(v) };
    yield* cases(desc.message!, path, put);
    return;
  }
  for (const v of tried) yield { path, json: put(v) };
}
