/** The one API client: typed from the contract (openapi-fetch over the generated types). */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.gen";
import { currentSession, signOut } from "../auth/session";

export type Schemas = components["schemas"];
export type ApiErrorBody = Schemas["Error"]["error"];

/** An answer of the API that is an error (`{"error": {code, message, details}}`). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  constructor(status: number, body: Partial<ApiErrorBody> | undefined) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? (status >= 500 ? "internal" : "unknown");
    this.details = (body?.details as Record<string, unknown>) ?? {};
  }
}

/** The request never got an answer: the connection was lost. */
export class NetworkError extends Error {}

let onUnauthenticated: () => void = () => {};
export function setUnauthenticatedHandler(f: () => void): void {
  onUnauthenticated = f;
}

const auth: Middleware = {
  onRequest({ request }) {
    const s = currentSession();
    if (s) request.headers.set("Authorization", `Bearer ${s.token}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) {
      sessionStorage.setItem("seatkeeper.ended", "1");
      onUnauthenticated();
      signOut();
    }
    return response;
  },
};

export const api = createClient<paths, "application/json">({ baseUrl: location.origin });
api.use(auth);

type Result<T> = { data?: T; error?: unknown; response: Response };

/** The data of an answer, or the error as ApiError / NetworkError. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  let r: Result<T>;
  try {
    r = await call;
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new NetworkError(String(e));
  }
  if (!r.response.ok) {
    const body = (r.error as { error?: ApiErrorBody } | undefined)?.error;
    throw new ApiError(r.response.status, body);
  }
  return r.data as T;
}

/** A fresh Idempotency-Key, made once per user action. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Saves a blob (a CSV or Excel answer) as a file. */
export function saveFile(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
