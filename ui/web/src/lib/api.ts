// Talking to the console server: JSON and Arrow requests with the session cookie (sent by the browser),
// the CSRF token on every change, and errors as ApiError with the server's code, message and hint.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly location?: { key?: string; column?: number; line?: number },
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
let onUnauthenticated: (() => void) | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the server says the session is gone (expired, signed out elsewhere). */
export function setUnauthenticatedHandler(fn: () => void): void {
  onUnauthenticated = fn;
}

async function failure(res: Response): Promise<ApiError> {
  let body: { error?: string; message?: string; hint?: string; location?: ApiError["location"] } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // not JSON: keep the status
  }
  const err = new ApiError(res.status, body.error ?? `http_${res.status}`, body.message ?? res.statusText, body.hint, body.location);
  if (res.status === 401 && onUnauthenticated) onUnauthenticated();
  return err;
}

export async function request(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal; accept?: string } = {}): Promise<Response> {
  const method = init.method ?? "GET";
  const headers: Record<string, string> = { accept: init.accept ?? "application/json" };
  if (method !== "GET") {
    headers["content-type"] = "application/json";
    if (csrfToken) headers["x-csrf-token"] = csrfToken;
  }
  const res = await fetch(path, {
    method,
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    credentials: "same-origin",
    signal: init.signal,
  });
  if (!res.ok) throw await failure(res);
  return res;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await (await request(path, { signal })).json()) as T;
}

export async function postJson<T>(path: string, body: unknown, method = "POST"): Promise<T> {
  return (await (await request(path, { method, body })).json()) as T;
}

/** Query string from a record, leaving out empty values. */
export function qs(params: Record<string, string | number | null | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
}
