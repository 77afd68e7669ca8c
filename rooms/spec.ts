// What a valid room spec is, and how an update replaces parts of it. The gateway validates every request with these
// before a room sees it; limits are the ones written in proto/livehost/v1/common.proto and room.proto.
import { compileOutputConfig } from "../media/index.js";
import { RoomSpec, type Catalog, type Money } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";

const productIdPattern = /^[a-z0-9-]{1,64}$/;
const avatarIdPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
const currencyPattern = /^[A-Z]{3}$/;

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
] as const;
type UpdatablePath = (typeof updatablePaths)[number];

/** Throws InvalidArgumentError naming the first bad field, under `prefix` (e.g. "spec."). */
export function validateRoomSpec(spec: RoomSpec | undefined, prefix = "spec."): asserts spec is RoomSpec {
  const field = (name: string) => `${prefix}${name}`;
  if (!spec) throw new InvalidArgumentError(prefix.replace(/\.$/, ""), "is required");
  if ([...spec.displayName].length > 120) {
    throw new InvalidArgumentError(field("display_name"), "must be at most 120 characters");
  }
  validateCatalog(spec.catalog, field("catalog"));
  const persona = spec.persona;
  if (persona) {
    if ([...persona.style].length > 500)
      throw new InvalidArgumentError(field("persona.style"), "at most 500 characters");
    if (persona.rules.length > 20) throw new InvalidArgumentError(field("persona.rules"), "at most 20 rules");
    persona.rules.forEach((rule, i) => {
      if ([...rule].length > 200)
        throw new InvalidArgumentError(field(`persona.rules[${i}]`), "at most 200 characters");
    });
  }
  const speed = spec.voice?.speed ?? 0;
  if (speed !== 0 && !(speed >= 0.5 && speed <= 2)) {
    throw new InvalidArgumentError(field("voice.speed"), `must be 0.5 to 2.0, or 0 for 1.0 (got ${speed})`);
  }
  const avatarId = spec.avatar?.avatarId ?? "";
  if (avatarId !== "" && !avatarIdPattern.test(avatarId)) {
    throw new InvalidArgumentError(field("avatar.avatar_id"), `"${avatarId}" is not [a-z0-9][a-z0-9-]{0,62}`);
  }
  if (spec.output) compileOutputConfig(spec.output, field("output"));
  const { startTime, endTime } = spec.schedule ?? {};
  if (startTime && endTime && endTime <= startTime) {
    throw new InvalidArgumentError(field("schedule.end_time"), "must be after schedule.start_time");
  }
  const labels = Object.entries(spec.labels);
  if (labels.length > 32) throw new InvalidArgumentError(field("labels"), "at most 32 labels");
  for (const [key, value] of labels) {
    if (key === "" || key.length > 63 || value.length > 63) {
      throw new InvalidArgumentError(field(`labels[${key}]`), "keys (non-empty) and values at most 63 characters");
    }
  }
}

export function validateCatalog(catalog: Catalog | undefined, field: string): asserts catalog is Catalog {
  if (!catalog) throw new InvalidArgumentError(field, "is required");
  if ([...catalog.title].length > 120) throw new InvalidArgumentError(`${field}.title`, "at most 120 characters");
  if (!currencyPattern.test(catalog.currency)) {
    throw new InvalidArgumentError(`${field}.currency`, `"${catalog.currency}" is not an ISO 4217 code like CNY`);
  }
  if (!/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(catalog.language)) {
    throw new InvalidArgumentError(`${field}.language`, `"${catalog.language}" is not a BCP 47 tag like zh-CN`);
  }
  if (catalog.products.length < 1 || catalog.products.length > 200) {
    throw new InvalidArgumentError(`${field}.products`, `must hold 1 to 200 products (got ${catalog.products.length})`);
  }
  const seen = new Set<string>();
  catalog.products.forEach((product, i) => {
    const at = (name: string) => `${field}.products[${i}].${name}`;
    if (!productIdPattern.test(product.id)) throw new InvalidArgumentError(at("id"), "must be 1 to 64 of [a-z0-9-]");
    if (seen.has(product.id)) throw new InvalidArgumentError(at("id"), `"${product.id}" appears twice`);
    seen.add(product.id);
    const title = [...product.title].length;
    if (title === 0 || title > 120) throw new InvalidArgumentError(at("title"), "must be 1 to 120 characters");
    validateMoney(product.price, at("price"), catalog.currency, true);
    validateMoney(product.originalPrice, at("original_price"), catalog.currency, false);
    if (product.stock < 0) throw new InvalidArgumentError(at("stock"), "must not be negative");
    if (product.restockDate !== "" && !/^\d{4}-\d{2}-\d{2}$/.test(product.restockDate)) {
      throw new InvalidArgumentError(at("restock_date"), `"${product.restockDate}" is not YYYY-MM-DD`);
    }
    if (product.sellingPoints.length > 20) throw new InvalidArgumentError(at("selling_points"), "at most 20");
    product.coupons.forEach((coupon, c) => {
      if ([...coupon.title].length > 60)
        throw new InvalidArgumentError(at(`coupons[${c}].title`), "at most 60 characters");
      validateMoney(coupon.discount, at(`coupons[${c}].discount`), catalog.currency, true);
      validateMoney(coupon.threshold, at(`coupons[${c}].threshold`), catalog.currency, false);
    });
  });
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

/** `spec` with the fields named in `paths` replaced from `update`. */
export function applyUpdate(spec: RoomSpec, update: RoomSpec, paths: string[], field = "update_mask"): RoomSpec {
  if (paths.length === 0) throw new InvalidArgumentError(field, 'name the fields to change, e.g. ["catalog"]');
  const next = RoomSpec.fromPartial(spec);
  for (const path of paths) {
    if (!updatablePaths.includes(path as UpdatablePath)) {
      throw new InvalidArgumentError(field, `"${path}" is not one of ${updatablePaths.join(", ")}`);
    }
    const key = path.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof RoomSpec;
    (next as unknown as Record<string, unknown>)[key] = update[key];
  }
  return next;
}
