import { api, unwrap } from "./api/client";

/** What licensing one learner came to: the allocation's outcome for its e-mail. */
export type Outcome = "allocated" | "already_active" | "unknown_user" | "invalid_email";

/**
 * Licenses `email` of `orgId` from the balance (the help pages: "add as many new learners as you have
 * licences available"), all or nothing: a shortfall is the API's `insufficient_licences`, and
 * nothing changes. With `create`, a learner not yet known is created by the same allocation.
 */
export async function allocateOne(orgId: string, key: string, email: string, create = false): Promise<Outcome> {
  const answer = await unwrap(
    api.POST("/v1/orgs/{org_id}/allocations", {
      params: { path: { org_id: orgId }, header: { "Idempotency-Key": key } },
      body: { emails: [email], ...(create ? { create_missing: true } : {}) },
    }),
  );
  // One e-mail is never a job of the background (202): its answer names each e-mail.
  const results = "results" in answer ? answer.results : [];
  return (results[0]?.outcome ?? "unknown_user") as Outcome;
}

/** Whether a user in `status` holds no licence to use now, so one can be allocated. */
export const licensable = (status: string | null | undefined) => status !== "active" && status !== "pending";
