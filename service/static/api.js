// The page's only way to the service: same-origin fetches of the public API, and every failure turned into
// an ApiError whose title and message are words a person can act on.

/** A failed API call, described for people. */
export class ApiError extends Error {
  /**
   * @param {{title: string, message: string, status?: number, code?: string, requestId?: string|null,
   *          retryAfter?: number|null}} info
   */
  constructor(info) {
    super(info.message);
    this.name = "ApiError";
    this.title = info.title;
    this.status = info.status ?? 0;
    this.code = info.code ?? "";
    this.requestId = info.requestId ?? null;
    this.retryAfter = info.retryAfter ?? null;
  }
}

let apiKey = "";

/** Every later call sends `Authorization: Bearer <key>` when the key is not empty. */
export function setApiKey(key) {
  apiKey = key.trim();
}

function headersFor(body, accept) {
  const headers = { Accept: accept };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  return headers;
}

function seconds(value) {
  const number = Number.parseInt(value ?? "", 10);
  return Number.isFinite(number) && number >= 0 ? number : null;
}

const TOO_LONG = /characters; the limit is|exceeds the limit|too long|too large/i;
const TOO_MANY = /texts; at most .* are allowed/i;

/** The heading of an error answer: what kind of problem it is, from the status and heed's error code. */
function titleFor(status, code, message) {
  if (status === 503) {
    if (code === "overloaded") return "The service is busy";
    if (code === "store_unavailable") return "The result store is unavailable";
    return "The service is not ready";
  }
  if (status === 413) return "The text is too long";
  if (status === 422 && TOO_LONG.test(message)) return "The text is too long";
  if (status === 422 && TOO_MANY.test(message)) return "Too many sentences for one request";
  if (code === "unsupported_language_pair") return "This language pair is not supported";
  if (code === "unknown_model") return "This model is not served";
  if (status === 401 && /not valid|invalid/i.test(message)) return "The API key was refused";
  if (status === 401) return "This service needs an API key";
  if (status === 403) return "The API key was refused";
  if (status === 404) return "Not found";
  if (status === 429) return "Too many requests";
  if (status === 504) return "The translation took too long";
  if (status === 400 || status === 422) return "The request was not accepted";
  return `Something went wrong (HTTP ${status})`;
}

/** What to do about it, added to the service's own message where that helps. */
function adviceFor(status, code, message, retryAfter) {
  const wait = retryAfter ? ` Try again in ${retryAfter} s.` : " Try again shortly.";
  if (status === 503 && code === "overloaded") return wait;
  if (status === 503) return " It may still be loading its models." + wait;
  if (status === 429) return wait;
  if (status === 401 || status === 403) return " Enter a valid key in the “API key” section of the form.";
  if (status === 413 || (status === 422 && TOO_LONG.test(message))) return " Shorten the text or split it up.";
  return "";
}

async function errorFrom(response) {
  const status = response.status;
  const retryAfter = seconds(response.headers.get("Retry-After"));
  let code = "";
  let message = "";
  let requestId = response.headers.get("X-Request-ID");
  try {
    const body = await response.json();
    const error = body && body.error;
    if (error && typeof error === "object") {
      code = String(error.code ?? "");
      message = String(error.message ?? "");
    } else if (typeof error === "string") {
      message = error;
    } else if (body && typeof body.reason === "string") {  // /readyz
      message = `the service is not ready: ${body.reason}`;
    }
    if (body && typeof body.request_id === "string") requestId = body.request_id;
  } catch {
    // not JSON (a proxy's error page, say): the status line has to do
  }
  if (!message) message = `the service answered HTTP ${status}${response.statusText ? ` ${response.statusText}` : ""}`;
  const sentence = message.charAt(0).toUpperCase() + message.slice(1);
  const ending = /[.!?]$/.test(sentence) ? "" : ".";
  return new ApiError({
    title: titleFor(status, code, message),
    message: sentence + ending + adviceFor(status, code, message, retryAfter),
    status, code, requestId, retryAfter,
  });
}

function networkError(error) {
  if (error && error.name === "AbortError") throw error;
  return new ApiError({
    title: "Could not reach heed",
    message: "The request got no answer (a network error). Check that the service is running and reachable, " +
      "then try again.",
  });
}

/**
 * Calls the API; resolves to the answer (parsed JSON, or text / Blob as asked), rejects with an ApiError.
 * @param {string} path
 * @param {{method?: string, body?: unknown, signal?: AbortSignal, as?: "json"|"text"|"blob", accept?: string}} options
 */
export async function call(path, options = {}) {
  const { method = "GET", body, signal, as = "json", accept = "application/json" } = options;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headersFor(body, accept),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (error) {
    throw networkError(error);
  }
  if (!response.ok) throw await errorFrom(response);
  try {
    if (as === "blob") return await response.blob();
    if (as === "text") return await response.text();
    return await response.json();
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError({
      title: "Unreadable answer",
      message: "The service answered something this page cannot read. Reload the page and try again.",
      status: response.status,
    });
  }
}

/** GET /readyz: resolves to the readiness body whether ready (200) or not (503); rejects on anything else. */
export async function readiness(signal) {
  let response;
  try {
    response = await fetch("/readyz", { headers: { Accept: "application/json" }, signal, cache: "no-store" });
  } catch (error) {
    throw networkError(error);
  }
  if (response.status !== 200 && response.status !== 503) throw await errorFrom(response);
  let body;
  try {
    body = await response.json();
  } catch {
    body = { status: response.ok ? "ready" : "not_ready", reason: null, models: [], failures: {} };
  }
  return { ...body, retryAfter: seconds(response.headers.get("Retry-After")) };
}
