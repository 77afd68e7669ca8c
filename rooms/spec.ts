// What a valid room spec is, and how an update replaces parts of it. The gateway validates every request with these
// before a room sees it, and the room again on create and update; limits are the ones written in
// proto/livehost/v1/common.proto and room.proto. Every string has a length limit (in characters), a value that names
// a file or a model cannot be a path, and the whole spec fits what a room's request and record carry.
import { checkScript, isCalendarDate } from "../brain/index.js";
import { compileOutputConfig } from "../media/index.js";
import {
  AiLabel_Position,
  AvatarRenderer,
  InterruptionPolicy,
  RoomSpec,
  type Catalog,
  type Coupon,
  type Money,
  type Persona,
  type Product,
  type Spec,
} from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { validateEnum, validateLength, validateLine, validateTime } from "./validation.js";

const productIdPattern = /^[a-z0-9-]{1,64}$/;
const couponIdPattern = /^[A-Za-z0-9_:-]{0,64}$/;
const avatarIdPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A voice (or persona) id names a model or a file on a worker: never a path, so no '/', '\', '..' or NUL. */
const modelNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const currencyPattern = /^[A-Z]{3}$/;
const languagePattern = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

/**
 * The most a spec may take encoded, as protobuf (inside a room's actor request on NATS, whose max_payload is 1 MiB
 * by default) or as JSON (in the room's persisted state, beside up to 256 comments waiting for an answer).
 */
export const maxSpecBytes = 512 * 1024;

/** The RoomSpec fields UpdateRoom may name. */
export const updatablePaths = [
  "display_name",
  "catalog",
  "persona",
  "voice",
  "avatar",
  "output",
  "schedule",
  "labels",
  "show",
  "script",
] as const;
type UpdatablePath = (typeof updatablePaths)[number];

const camel = (path: string) => path.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof RoomSpec;

/** A caller's value quoted in a message: enough to recognise it, never a megabyte of it. */
function quoted(value: string): string {
  const head = [...value.slice(0, 100)].slice(0, 40).join("");
  return JSON.stringify(head.length < value.length ? `${head}…` : value);
}

/** Throws InvalidArgumentError naming the first bad field, under `prefix` (e.g. "spec."). */
export function validateRoomSpec(spec: RoomSpec | undefined, prefix = "spec."): asserts spec is RoomSpec {
  const field = (name: string) => `${prefix}${name}`;
  if (!spec) throw new InvalidArgumentError(prefix.replace(/\.$/, ""), "is required");
  validateLine(spec.displayName, field("display_name"), 120);
  validateCatalog(spec.catalog, field("catalog"));
  if (spec.persona) validatePersona(spec.persona, field("persona"));
  const speed = spec.voice?.speed ?? 0;
  if (speed !== 0 && !(speed >= 0.5 && speed <= 2)) {
    throw new InvalidArgumentError(field("voice.speed"), `must be 0.5 to 2.0, or 0 for 1.0 (got ${speed})`);
  }
  validateModelName(spec.voice?.voiceId ?? "", field("voice.voice_id"), "a voice id from ListVoices");
  const avatarId = spec.avatar?.avatarId ?? "";
  if (avatarId !== "" && !avatarIdPattern.test(avatarId)) {
    throw new InvalidArgumentError(field("avatar.avatar_id"), `${quoted(avatarId)} is not [a-z0-9][a-z0-9-]{0,62}`);
  }
  if (spec.avatar) validateEnum(spec.avatar.renderer, AvatarRenderer, field("avatar.renderer"));
  if (spec.output) compileOutputConfig(spec.output, field("output"));
  const label = spec.output?.aiLabel;
  if (label) {
    validateLine(label.text, field("output.ai_label.text"), 40);
    if (!["", "zh", "en"].includes(label.language)) {
      throw new InvalidArgumentError(field("output.ai_label.language"), `must be "zh", "en" or empty (the catalog's)`);
    }
    validateEnum(label.position, AiLabel_Position, field("output.ai_label.position"));
  }
  const { startTime, endTime } = spec.schedule ?? {};
  validateTime(startTime, field("schedule.start_time"));
  validateTime(endTime, field("schedule.end_time"));
  if (startTime && endTime && endTime <= startTime) {
    throw new InvalidArgumentError(field("schedule.end_time"), "must be after schedule.start_time");
  }
  validateStringMap(spec.labels, field("labels"), { entries: 32, key: 63, value: 63 });
  if (spec.show) {
    validateEnum(spec.show.interruption, InterruptionPolicy, field("show.interruption"));
    const between = spec.show.answersBetweenShowSentences;
    if (!Number.isInteger(between) || between < 0 || between > 10) {
      throw new InvalidArgumentError(
        field("show.answers_between_show_sentences"),
        `must be 0 (the default, 3) to 10, got ${between}`,
      );
    }
  }
  validateSpecSize(spec, prefix);
  // Last: the guard reads every line, so a spec too large is refused before that.
  if (spec.script) checkScript(spec.script, spec.catalog, { persona: spec.persona, prefix });
}

export function validateCatalog(catalog: Catalog | undefined, field: string): asserts catalog is Catalog {
  if (!catalog) throw new InvalidArgumentError(field, "is required");
  validateLine(catalog.title, `${field}.title`, 120);
  if (!currencyPattern.test(catalog.currency)) {
    throw new InvalidArgumentError(`${field}.currency`, `${quoted(catalog.currency)} is not an ISO 4217 code like CNY`);
  }
  validateLanguage(catalog.language, `${field}.language`, true);
  if (catalog.products.length < 1 || catalog.products.length > 200) {
    throw new InvalidArgumentError(`${field}.products`, `must hold 1 to 200 products (got ${catalog.products.length})`);
  }
  const seen = new Set<string>();
  catalog.products.forEach((product, i) => {
    const at = `${field}.products[${i}]`;
    validateProduct(product, at, catalog.currency);
    if (seen.has(product.id)) throw new InvalidArgumentError(`${at}.id`, `"${product.id}" appears twice`);
    seen.add(product.id);
  });
}

function validateProduct(product: Product, field: string, currency: string): void {
  const at = (name: string) => `${field}.${name}`;
  if (!productIdPattern.test(product.id)) throw new InvalidArgumentError(at("id"), "must be 1 to 64 of [a-z0-9-]");
  validateLine(product.title, at("title"), 120, 1);
  validateMoney(product.price, at("price"), currency, true);
  validateMoney(product.originalPrice, at("original_price"), currency, false);
  if (product.stock < 0) throw new InvalidArgumentError(at("stock"), "must not be negative");
  if (product.restockDate !== "" && !isCalendarDate(product.restockDate)) {
    throw new InvalidArgumentError(at("restock_date"), `${quoted(product.restockDate)} is not a date YYYY-MM-DD`);
  }
  validateList(product.specs, at("specs"), 50, validateSpec);
  validateStringMap(product.sizeGuide, at("size_guide"), { entries: 50, key: 64, value: 200 });
  validateList(product.sellingPoints, at("selling_points"), 20, (point, f) => validateLength(point, f, 200));
  validateLength(product.shipping, at("shipping"), 200);
  validateLength(product.afterSales, at("after_sales"), 200);
  validateList(product.coupons, at("coupons"), 20, (coupon, f) => validateCoupon(coupon, f, currency));
  validateImageUri(product.imageUri, at("image_uri"));
}

function validateSpec(spec: Spec, field: string): void {
  validateLine(spec.name, `${field}.name`, 64, 1);
  validateList(spec.values, `${field}.values`, 50, (value, f) => validateLength(value, f, 200));
}

function validateCoupon(coupon: Coupon, field: string, currency: string): void {
  if (!couponIdPattern.test(coupon.id)) {
    throw new InvalidArgumentError(`${field}.id`, "must be at most 64 characters of A-Z, a-z, 0-9, '_', ':', '-'");
  }
  validateLine(coupon.title, `${field}.title`, 60);
  validateMoney(coupon.discount, `${field}.discount`, currency, true);
  validateMoney(coupon.threshold, `${field}.threshold`, currency, false);
}

function validatePersona(persona: Persona, field: string): void {
  validateModelName(persona.id, `${field}.id`, "a persona id");
  validateLine(persona.name, `${field}.name`, 64);
  validateLanguage(persona.language, `${field}.language`, false);
  validateLength(persona.style, `${field}.style`, 500);
  validateList(persona.catchphrases, `${field}.catchphrases`, 20, (phrase, f) => validateLength(phrase, f, 60));
  validateList(persona.rules, `${field}.rules`, 20, (rule, f) => validateLength(rule, f, 200));
}

/** A BCP 47 tag like zh-CN, at most 35 characters (the longest tag a registry lists is shorter). */
function validateLanguage(language: string, field: string, required: boolean): void {
  if (language === "" && !required) return;
  if (language.length > 35 || !languagePattern.test(language)) {
    throw new InvalidArgumentError(field, `${quoted(language)} is not a BCP 47 tag like zh-CN`);
  }
}

/** An id that a worker looks a model or a file up by: empty (the default), or a name that cannot be a path. */
function validateModelName(name: string, field: string, what: string): void {
  if (name === "" || (modelNamePattern.test(name) && !name.includes(".."))) return;
  throw new InvalidArgumentError(
    field,
    `must be ${what}: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit, ` +
      "without '..' (a name, never a path)",
  );
}

/**
 * A product card's image: empty, or an absolute https URL at most 2048 characters long, without credentials. Images
 * are fetched over https (from allowed hosts), never read from a path on the room's host.
 */
function validateImageUri(uri: string, field: string): void {
  if (uri === "") return;
  validateLength(uri, field, 2048);
  // The URL parser drops tabs and newlines inside a URL and spaces around it: a value must be the URL it reads as.
  if (/[\s\p{Cc}]/u.test(uri)) throw new InvalidArgumentError(field, "must not contain spaces or control characters");
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InvalidArgumentError(field, `${quoted(uri)} is not an absolute URL; images are https:// URLs`);
  }
  if (url.protocol !== "https:") {
    throw new InvalidArgumentError(field, `must be an https:// URL, not ${quoted(url.protocol)} (never a file path)`);
  }
  if (url.username !== "" || url.password !== "") throw new InvalidArgumentError(field, "must not carry credentials");
}

function validateList<T>(items: T[], field: string, max: number, validate: (item: T, field: string) => void): void {
  if (items.length > max) throw new InvalidArgumentError(field, `at most ${max} (got ${items.length})`);
  items.forEach((item, i) => validate(item, `${field}[${i}]`));
}

/** A map<string, string>: entries named by their key once the key is known to be short. */
function validateStringMap(
  map: Record<string, string>,
  field: string,
  limits: { entries: number; key: number; value: number },
): void {
  const entries = Object.entries(map);
  if (entries.length > limits.entries) {
    throw new InvalidArgumentError(field, `at most ${limits.entries} entries (got ${entries.length})`);
  }
  for (const [key, value] of entries) {
    const keyLength = [...key].length;
    if (keyLength === 0 || keyLength > limits.key) {
      throw new InvalidArgumentError(field, `keys must be 1 to ${limits.key} characters (got ${quoted(key)})`);
    }
    // A key is printed as it is, as a value is: the same characters are refused.
    try {
      validateLine(key, field, limits.key);
    } catch (err) {
      const why = (err as InvalidArgumentError).message.slice(field.length + 2);
      throw new InvalidArgumentError(field, `key ${quoted(key)}: ${why}`);
    }
    validateLine(value, `${field}[${key}]`, limits.value);
  }
}

function validateMoney(money: Money | undefined, field: string, currency: string, required: boolean): void {
  if (!money) {
    if (required) throw new InvalidArgumentError(field, "is required");
    return;
  }
  if (money.currency !== currency) {
    throw new InvalidArgumentError(`${field}.currency`, `must be the catalog's currency ${currency}`);
  }
  if (!Number.isSafeInteger(money.amountMinor) || money.amountMinor < 0) {
    throw new InvalidArgumentError(`${field}.amount_minor`, "must be a non-negative integer (minor units)");
  }
}

/** What a spec takes as a room carries it: the larger of its protobuf form (on NATS) and its JSON form (stored). */
function encodedSize(spec: RoomSpec): number {
  return Math.max(RoomSpec.encode(spec).finish().length, Buffer.byteLength(JSON.stringify(RoomSpec.toJSON(spec))));
}

const kib = (bytes: number) => `${Math.ceil(bytes / 1024)} KiB`;

/**
 * Throws InvalidArgumentError naming the spec's largest field when the spec is over maxSpecBytes encoded: each field
 * may be within its limits and the whole still more than NATS carries in one message.
 */
export function validateSpecSize(spec: RoomSpec, prefix = "spec."): void {
  const size = encodedSize(spec);
  if (size <= maxSpecBytes) return;
  const empty = encodedSize(RoomSpec.fromPartial({}));
  const [largest, bytes] = updatablePaths
    .map((path): [string, number] => [path, encodedSize(RoomSpec.fromPartial({ [camel(path)]: spec[camel(path)] }))])
    .reduce((a, b) => (b[1] > a[1] ? b : a));
  throw new InvalidArgumentError(
    `${prefix}${largest}`,
    `the spec is ${kib(size)} encoded, over the ${kib(maxSpecBytes)} a room takes; ${largest} is ` +
      `${kib(bytes - empty)} of it`,
  );
}

/** `spec` with the fields named in `paths` replaced from `update`. */
export function applyUpdate(spec: RoomSpec, update: RoomSpec, paths: string[], field = "update_mask"): RoomSpec {
  if (paths.length === 0) throw new InvalidArgumentError(field, 'name the fields to change, e.g. ["catalog"]');
  const next = RoomSpec.fromPartial(spec);
  for (const path of paths) {
    if (!updatablePaths.includes(path as UpdatablePath)) {
      throw new InvalidArgumentError(field, `"${path}" is not one of ${updatablePaths.join(", ")}`);
    }
    const key = camel(path);
    (next as unknown as Record<string, unknown>)[key] = update[key];
  }
  return next;
}
