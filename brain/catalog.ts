// Loads a merchant's catalog and the host's persona from their JSON form (prices in major units, specs as an
// object: see fixtures/) into the contract types, checking every field. A bad file gets an InvalidArgumentError
// naming the field, e.g. "catalog.products[2].price".
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Catalog, Coupon, Money, Persona, Product, Spec } from "../proto/index.js";
import { InvalidArgumentError } from "../errors/index.js";
import { minorDigits } from "./text.js";

// brain/fixtures/ beside the sources; from dist/brain/ it is two levels up.
const here = dirname(fileURLToPath(import.meta.url));
const fixtures = existsSync(join(here, "fixtures")) ? join(here, "fixtures") : join(here, "../../brain/fixtures");

/** The sample catalogs and personas shipped with the brain (the demo's and the tests'). */
export const sampleFiles = {
  catalogZh: join(fixtures, "catalog-zh.json"),
  catalogEn: join(fixtures, "catalog-en.json"),
  personas: join(fixtures, "persona.json"),
  comments: join(fixtures, "comments.jsonl"),
};

const productIdPattern = /^[a-z0-9-]{1,64}$/;
const isoDate = /^(\d{4})-(\d{2})-(\d{2})$/;
const currencyPattern = /^[A-Z]{3}$/;

type Json = Record<string, unknown>;

function object(value: unknown, field: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(field, "must be an object");
  }
  return value as Json;
}

function text(value: unknown, field: string, { max, required = true }: { max: number; required?: boolean }): string {
  if (value === undefined && !required) return "";
  if (typeof value !== "string") throw new InvalidArgumentError(field, "must be a string");
  if (required && value.trim() === "") throw new InvalidArgumentError(field, "is required");
  if (value.length > max) throw new InvalidArgumentError(field, `must be at most ${max} characters`);
  return value;
}

function list(value: unknown, field: string, { min = 0, max }: { min?: number; max: number }): unknown[] {
  if (value === undefined && min === 0) return [];
  if (!Array.isArray(value)) throw new InvalidArgumentError(field, "must be an array");
  if (value.length < min || value.length > max) {
    throw new InvalidArgumentError(field, `must have ${min} to ${max} items (got ${value.length})`);
  }
  return value;
}

/** A major-unit amount (49.99) to exact minor units, refusing amounts the currency cannot hold (49.999 USD). */
function money(value: unknown, currency: string, field: string): Money {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(field, "must be a non-negative number of major units, e.g. 49.99");
  }
  const scale = 10 ** minorDigits(currency);
  const amountMinor = Math.round(value * scale);
  if (Math.abs(amountMinor - value * scale) > 1e-6 * scale) {
    throw new InvalidArgumentError(field, `has more decimals than ${currency} allows`);
  }
  if (!Number.isSafeInteger(amountMinor)) throw new InvalidArgumentError(field, "is too large");
  return { currency, amountMinor };
}

function specs(value: unknown, field: string): Spec[] {
  if (value === undefined) return [];
  const entries = Object.entries(object(value, field));
  if (entries.length > 50) throw new InvalidArgumentError(field, "must have at most 50 entries");
  return entries.map(([name, raw]) => {
    const values = Array.isArray(raw) ? raw : [raw];
    if (name.trim() === "") throw new InvalidArgumentError(field, "spec names must not be empty");
    if (values.length === 0) throw new InvalidArgumentError(`${field}.${name}`, "must have a value");
    return {
      name,
      values: values.map((v, i) =>
        text(v, Array.isArray(raw) ? `${field}.${name}[${i}]` : `${field}.${name}`, { max: 200 }),
      ),
    };
  });
}

function sizeGuide(value: unknown, field: string): Record<string, string> {
  if (value === undefined) return {};
  return Object.fromEntries(
    Object.entries(object(value, field)).map(([size, fit]) => [size, text(fit, `${field}.${size}`, { max: 200 })]),
  );
}

function coupon(value: unknown, currency: string, field: string): Coupon {
  const c = object(value, field);
  const id = text(c.id, `${field}.id`, { max: 64 });
  const threshold = money(c.threshold ?? 0, currency, `${field}.threshold`);
  const discount = money(c.discount, currency, `${field}.discount`);
  if (discount.amountMinor === 0) throw new InvalidArgumentError(`${field}.discount`, "must be more than 0");
  return { id, title: text(c.title, `${field}.title`, { max: 60 }), threshold, discount };
}

/** YYYY-MM-DD naming a day of the calendar (2026-02-30 and 2026-13-45 do not). */
export function isCalendarDate(date: string): boolean {
  const match = isoDate.exec(date);
  if (!match) return false;
  const day = new Date(`${date}T00:00:00Z`);
  return (
    !Number.isNaN(day.getTime()) && day.getUTCMonth() + 1 === Number(match[2]) && day.getUTCDate() === Number(match[3])
  );
}

function restockDate(value: unknown, field: string): string {
  const date = text(value, field, { max: 10, required: false });
  if (date === "") return "";
  if (!isCalendarDate(date)) throw new InvalidArgumentError(field, "must be a date YYYY-MM-DD");
  return date;
}

function product(value: unknown, currency: string, field: string): Product {
  const p = object(value, field);
  const id = text(p.id, `${field}.id`, { max: 64 });
  if (!productIdPattern.test(id))
    throw new InvalidArgumentError(`${field}.id`, "must be 1 to 64 characters of a-z, 0-9, '-'");
  const stock = p.stock;
  if (typeof stock !== "number" || !Number.isInteger(stock) || stock < 0 || stock > 2 ** 31 - 1) {
    throw new InvalidArgumentError(`${field}.stock`, "must be a whole number, 0 or more");
  }
  const price = money(p.price, currency, `${field}.price`);
  const originalPrice =
    p.originalPrice === undefined ? undefined : money(p.originalPrice, currency, `${field}.originalPrice`);
  if (originalPrice && originalPrice.amountMinor < price.amountMinor) {
    throw new InvalidArgumentError(`${field}.originalPrice`, "must not be below the price");
  }
  return {
    id,
    title: text(p.title, `${field}.title`, { max: 120 }),
    price,
    originalPrice,
    stock,
    restockDate: restockDate(p.restockDate, `${field}.restockDate`),
    specs: specs(p.specs, `${field}.specs`),
    sizeGuide: sizeGuide(p.sizeGuide, `${field}.sizeGuide`),
    sellingPoints: list(p.sellingPoints, `${field}.sellingPoints`, { max: 20 }).map((s, i) =>
      text(s, `${field}.sellingPoints[${i}]`, { max: 200 }),
    ),
    shipping: text(p.shipping, `${field}.shipping`, { max: 200, required: false }),
    afterSales: text(p.afterSales, `${field}.afterSales`, { max: 200, required: false }),
    coupons: list(p.coupons, `${field}.coupons`, { max: 20 }).map((c, i) =>
      coupon(c, currency, `${field}.coupons[${i}]`),
    ),
    imageUri: text(p.imageUri, `${field}.imageUri`, { max: 2048, required: false }),
  };
}

/**
 * A catalog from its JSON form: `{ roomTitle, language, currency, products: [{ id, title, price, originalPrice,
 * stock, restockDate, specs, sizeGuide, sellingPoints, shipping, afterSales, coupons }] }` (see fixtures/).
 * Fields the contract has no place for (e.g. `compliance`) are ignored.
 */
export function parseCatalog(json: unknown, field = "catalog"): Catalog {
  const c = object(json, field);
  const currency = text(c.currency, `${field}.currency`, { max: 3 });
  if (!currencyPattern.test(currency))
    throw new InvalidArgumentError(`${field}.currency`, "must be an ISO 4217 code, e.g. CNY");
  const language = text(c.language, `${field}.language`, { max: 35 });
  if (!/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(language)) {
    throw new InvalidArgumentError(`${field}.language`, "must be a BCP 47 tag, e.g. zh-CN");
  }
  const products = list(c.products, `${field}.products`, { min: 1, max: 200 }).map((p, i) =>
    product(p, currency, `${field}.products[${i}]`),
  );
  const seen = new Set<string>();
  products.forEach((p, i) => {
    if (seen.has(p.id)) throw new InvalidArgumentError(`${field}.products[${i}].id`, `duplicates "${p.id}"`);
    seen.add(p.id);
  });
  return { title: text(c.roomTitle ?? c.title, `${field}.roomTitle`, { max: 120 }), language, currency, products };
}

function persona(value: unknown, field: string): Persona {
  const p = object(value, field);
  return {
    id: text(p.id, `${field}.id`, { max: 64 }),
    name: text(p.name, `${field}.name`, { max: 64 }),
    language: text(p.language, `${field}.language`, { max: 35 }),
    style: text(p.style, `${field}.style`, { max: 500, required: false }),
    catchphrases: list(p.catchphrases, `${field}.catchphrases`, { max: 20 }).map((s, i) =>
      text(s, `${field}.catchphrases[${i}]`, { max: 60 }),
    ),
    rules: list(p.rules, `${field}.rules`, { max: 20 }).map((s, i) => text(s, `${field}.rules[${i}]`, { max: 200 })),
  };
}

/** Every persona of a personas file (`{ personas: [...] }`), or the one persona given on its own. */
export function parsePersonas(json: unknown, field = "personas"): Persona[] {
  const root = object(json, field);
  if (!("personas" in root)) return [persona(root, "persona")];
  return list(root.personas, `${field}.personas`, { min: 1, max: 100 }).map((p, i) =>
    persona(p, `${field}.personas[${i}]`),
  );
}

/** The persona for a show: by id when given, else the first one speaking the catalog's language. */
export function pickPersona(personas: readonly Persona[], catalog: Catalog, personaId?: string): Persona {
  const language = catalog.language.slice(0, 2).toLowerCase();
  const found =
    personaId === undefined
      ? personas.find((p) => p.language.slice(0, 2).toLowerCase() === language)
      : personas.find((p) => p.id === personaId);
  if (!found) {
    throw new InvalidArgumentError(
      "persona",
      personaId === undefined ? `none speaks ${catalog.language}` : `no persona "${personaId}"`,
    );
  }
  return found;
}

async function readJson(path: string, field: string): Promise<unknown> {
  const raw = await readFile(path, "utf8");
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw new InvalidArgumentError(field, `is not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

export async function loadCatalogFile(path: string): Promise<Catalog> {
  return parseCatalog(await readJson(path, "catalog"));
}

export async function loadPersonasFile(path: string): Promise<Persona[]> {
  return parsePersonas(await readJson(path, "personas"));
}
