/**
 * Routes and parameters that the API is gaining while the contract catches up (see README).
 * Each is used only where `schema.gen.ts` (generated from ../shared/openapi.yaml) does not have it
 * yet: as soon as the contract documents a path, the generated one wins, so a difference then
 * breaks the build instead of hiding.
 */
import type { components, paths as generated } from "./schema.gen";

type S = components["schemas"];
type Json<T> = { headers: { [name: string]: unknown }; content: { "application/json": T } };
type Err = Json<S["Error"]>;

export type ImportRowOutcome = S["ImportRow"]["outcome"] | "release";

interface Pending {
  "/v1/orgs/{org_id}/imports/{import_id}/rows": {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: {
        query?: { outcome?: ImportRowOutcome; cursor?: string; limit?: number };
        header?: never;
        path: { org_id: string; import_id: string };
        cookie?: never;
      };
      requestBody?: never;
      responses: {
        200: Json<{ items: { line: number; email: string; outcome: ImportRowOutcome }[]; next_cursor: string | null }>;
        default: Err;
      };
    };
    put?: never; post?: never; delete?: never; options?: never; head?: never; patch?: never; trace?: never;
  };
  "/v1/orgs/{org_id}/users/{email}/enrolments": {
    parameters: { query?: never; header?: never; path?: never; cookie?: never };
    get: {
      parameters: {
        query?: { cursor?: string; limit?: number };
        header?: never;
        path: { org_id: string; email: string };
        cookie?: never;
      };
      requestBody?: never;
      responses: { 200: Json<{ items: S["Enrolment"][]; next_cursor: string | null }>; default: Err };
    };
    put?: never; post?: never; delete?: never; options?: never; head?: never; patch?: never; trace?: never;
  };
}

/** Query parameters being added to routes the contract already has. */
interface PendingQuery {
  "/v1/orgs/{org_id}/users": { email_prefix?: string; licence_status?: "active" | "pending" | "expired" | "released" | "none" };
}

type WithQuery<Item, Q> = Item extends { get: infer G }
  ? G extends { parameters: { query?: infer Old } }
    ? Omit<Item, "get"> & {
        get: Omit<G, "parameters"> & { parameters: Omit<G["parameters"], "query"> & { query?: NonNullable<Old> & Q } };
      }
    : Item
  : Item;

type Extended = {
  [K in keyof generated]: K extends keyof PendingQuery ? WithQuery<generated[K], PendingQuery[K]> : generated[K];
};

export type Paths = Extended & { [K in Exclude<keyof Pending, keyof generated>]: Pending[K] };
