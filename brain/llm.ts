// A streaming client for OpenAI-compatible chat APIs (vLLM, Ollama, Qwen/DashScope, OpenAI): POST
// {endpoint}/chat/completions with stream: true, read the server-sent events' `data:` lines up to `[DONE]`, and
// yield the text as it arrives. Three clocks guard it: the first token, the gap between tokens, and the whole
// answer; each expiry is an LlmError with its reason, as are HTTP and protocol errors.
import { InvalidArgumentError } from "../errors/index.js";
import { LlmError } from "./errors.js";

export interface LlmOptions {
  /** Base URL of the API, e.g. "http://127.0.0.1:8000/v1" (vLLM) or "https://api.openai.com/v1". */
  endpoint: string;
  model: string;
  /** Sent as "Authorization: Bearer <key>"; empty for local servers that need none. */
  apiKey?: string;
  /** No first token within this time: give up (the embedded brain answers). Default 1500 ms. */
  firstTokenTimeoutMs?: number;
  /** No new token for this long mid-answer: give up. Default 2000 ms. */
  stallTimeoutMs?: number;
  /** The whole answer. Default 10 s. */
  totalTimeoutMs?: number;
  /** Default 300: a spoken answer is two or three sentences, in a small JSON object. */
  maxTokens?: number;
  /** Default 0.7. */
  temperature?: number;
}

export type LlmConfig = Required<LlmOptions>;

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

const positive = (value: number | undefined, fallback: number, field: string, max: number): number => {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0 || v > max)
    throw new InvalidArgumentError(field, `must be more than 0 and at most ${max}`);
  return v;
};

/** Fills defaults and checks options; errors name the field (e.g. "llm.endpoint"). */
export function compileLlmOptions(options: LlmOptions, field = "llm"): LlmConfig {
  let url: URL;
  try {
    url = new URL(options.endpoint);
  } catch {
    throw new InvalidArgumentError(`${field}.endpoint`, "must be an http(s) URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError(`${field}.endpoint`, "must be an http(s) URL");
  }
  if (typeof options.model !== "string" || options.model.trim() === "") {
    throw new InvalidArgumentError(`${field}.model`, "is required");
  }
  const temperature = options.temperature ?? 0.7;
  if (!(temperature >= 0 && temperature <= 2)) throw new InvalidArgumentError(`${field}.temperature`, "must be 0 to 2");
  return {
    endpoint: options.endpoint.replace(/\/+$/, ""),
    model: options.model,
    apiKey: options.apiKey ?? "",
    firstTokenTimeoutMs: positive(options.firstTokenTimeoutMs, 1500, `${field}.firstTokenTimeoutMs`, 60_000),
    stallTimeoutMs: positive(options.stallTimeoutMs, 2000, `${field}.stallTimeoutMs`, 60_000),
    totalTimeoutMs: positive(options.totalTimeoutMs, 10_000, `${field}.totalTimeoutMs`, 300_000),
    maxTokens: Math.round(positive(options.maxTokens, 300, `${field}.maxTokens`, 8192)),
    temperature,
  };
}

/** LLM settings from the environment (LIVEHOST_LLM_ENDPOINT, _MODEL, _API_KEY); undefined when none is set. */
export function llmOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): LlmOptions | undefined {
  const endpoint = env.LIVEHOST_LLM_ENDPOINT;
  if (endpoint === undefined || endpoint === "") return undefined;
  return { endpoint, model: env.LIVEHOST_LLM_MODEL ?? "", apiKey: env.LIVEHOST_LLM_API_KEY ?? "" };
}

interface ChunkJson {
  choices?: { delta?: { content?: unknown; refusal?: unknown }; message?: { content?: unknown; refusal?: unknown } }[];
  error?: { message?: unknown } | string;
}

function contentOf(json: ChunkJson): string {
  if (json.error !== undefined) {
    const message =
      typeof json.error === "string"
        ? json.error
        : typeof json.error.message === "string"
          ? json.error.message
          : "error";
    throw new LlmError("protocol", `the endpoint sent an error: ${message.slice(0, 200)}`);
  }
  const choice = json.choices?.[0];
  // OpenAI's structured outputs say a refusal in its own field.
  const refusal = choice?.delta?.refusal ?? choice?.message?.refusal;
  if (typeof refusal === "string" && refusal !== "") {
    throw new LlmError("refusal", `the model refused: ${refusal.slice(0, 200)}`);
  }
  const content = choice?.delta?.content ?? choice?.message?.content;
  return typeof content === "string" ? content : "";
}

/** The `data` of each server-sent event of a byte stream (comments and other fields skipped). */
async function* sseData(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  const lines = function* (final: boolean) {
    const parts = buffer.split(/\r\n|\r|\n/);
    buffer = final ? "" : parts.pop()!;
    yield* parts;
  };
  const take = function* (line: string) {
    if (line === "") {
      if (data.length > 0) yield data.join("\n");
      data = [];
    } else if (line.startsWith("data:")) {
      data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
    }
  };
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    for (const line of lines(false)) yield* take(line);
  }
  buffer += decoder.decode();
  for (const line of lines(true)) yield* take(line);
  yield* take("");
}

/**
 * Streams the assistant's reply as text pieces (`json`: in JSON mode). Throws LlmError (reason first_token_timeout,
 * stalled, timeout, http_status, network, protocol, refusal); an abort of `signal` throws its reason.
 */
export async function* streamChat(
  config: LlmConfig,
  messages: ChatMessage[],
  signal?: AbortSignal,
  options: { json?: boolean } = {},
): AsyncGenerator<string> {
  const clock = new AbortController();
  let timer = setTimeout(
    () => clock.abort(new LlmError("first_token_timeout", `no token within ${config.firstTokenTimeoutMs} ms`)),
    config.firstTokenTimeoutMs,
  );
  const total = AbortSignal.timeout(config.totalTimeoutMs);
  const combined = AbortSignal.any([clock.signal, total, ...(signal ? [signal] : [])]);
  const failure = (err: unknown): unknown => {
    if (signal?.aborted) return signal.reason;
    if (clock.signal.aborted) return clock.signal.reason;
    if (total.aborted)
      return new LlmError("timeout", `no complete answer within ${config.totalTimeoutMs} ms`, { cause: err });
    if (err instanceof LlmError) return err;
    return new LlmError("network", `cannot reach the LLM endpoint: ${(err as Error).message}`, { cause: err });
  };
  try {
    let response: Response;
    try {
      response = await fetch(`${config.endpoint}/chat/completions`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "text/event-stream",
          ...(config.apiKey ? { authorization: `Bearer ${config.apiKey}` } : {}),
        },
        body: JSON.stringify({
          model: config.model,
          messages,
          stream: true,
          max_tokens: config.maxTokens,
          temperature: config.temperature,
          // JSON mode: the reply is one JSON object (the structured reply of structured.ts).
          ...(options.json ? { response_format: { type: "json_object" } } : {}),
        }),
        signal: combined,
      });
    } catch (err) {
      throw failure(err);
    }
    if (!response.ok) {
      const detail = (await response.text().catch(() => "")).slice(0, 200);
      throw new LlmError("http_status", `the endpoint answered HTTP ${response.status} ${detail}`.trim(), {
        status: response.status,
      });
    }
    if (!response.body) throw new LlmError("protocol", "the endpoint sent no body");
    const contentType = response.headers.get("content-type") ?? "";
    let first = true;
    const gotToken = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => clock.abort(new LlmError("stalled", `no token for ${config.stallTimeoutMs} ms`)),
        config.stallTimeoutMs,
      );
      first = false;
    };
    try {
      // Some servers ignore stream: true and send one JSON reply; take it whole.
      if (contentType.includes("application/json")) {
        const text = contentOf((await response.json()) as ChunkJson);
        if (text !== "") yield text;
        return;
      }
      for await (const data of sseData(response.body)) {
        if (data.trim() === "[DONE]") return;
        let json: ChunkJson;
        try {
          json = JSON.parse(data) as ChunkJson;
        } catch (err) {
          throw new LlmError("protocol", "the endpoint sent an event that is not JSON", { cause: err });
        }
        const text = contentOf(json);
        if (text === "") continue;
        gotToken();
        yield text;
      }
      throw new LlmError("protocol", first ? "the stream ended without a token" : "the stream ended without [DONE]");
    } catch (err) {
      throw failure(err);
    }
  } finally {
    clearTimeout(timer);
  }
}
