import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link, useSearchParams } from "react-router";
import { api, saveFile, unwrap } from "../api/client";
import { useAction, usePaged } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Field, Loading, Pager, Success } from "../components/ui";
import { Headcount, useHeadcount } from "../components/Headcount";
import { allocateOne, licensable, type Outcome } from "../allocate";
import { LicenceOutcome } from "../components/LicenceOutcome";

const STATUSES = ["active", "pending", "expired", "released", "none"] as const;
type Status = (typeof STATUSES)[number];

/** Users: search by e-mail, filter by licence status (both in the URL), add (with a licence), allocate, release. */
export default function Users() {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId, base } = useOrg();
  const [search, setSearch] = useSearchParams();
  const q = search.get("q") ?? "";
  const status = (search.get("status") ?? "") as Status | "";
  const [typed, setTyped] = useState(q);
  useEffect(() => setTyped(q), [q]);
  const list = usePaged(
    (cursor) =>
      unwrap(
        api.GET("/v1/orgs/{org_id}/users", {
          params: {
            path: { org_id: orgId },
            query: { cursor, ...(q ? { email_prefix: q.toLowerCase() } : {}), ...(status ? { licence_status: status } : {}) },
          },
        }),
      ),
    [orgId, q, status],
  );
  // "N of M users": the usage report's own row, in the terms of the org's counting.
  const headcount = useHeadcount(orgId);
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(search);
    if (v) n.set(k, v);
    else n.delete(k);
    setSearch(n, { replace: true });
  };
  // The help pages: "Users EXPORT TO CSV → edit → Import Users → Synchronize Users". Every user, not
  // the filtered list: synchronised, a file of some users would release the rest.
  const exported = useAction(
    useCallback(async () => {
      const file = await unwrap(api.GET("/v1/orgs/{org_id}/users", { params: { path: { org_id: orgId }, query: { format: "csv" } }, parseAs: "blob" }));
      saveFile(file as Blob, `users-${orgId}.csv`);
      return true;
    }, [orgId]),
  );
  const [adding, setAdding] = useState(false);
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [role, setRole] = useState<"learner" | "company_manager">("learner");
  const [give, setGive] = useState(false);
  // Added with a licence (the help pages' "add new learners" step), all or nothing: the allocation creates the learner
  // and debits its licence in one go, or refuses with the shortfall and creates no one; the
  // name is then written on the learner it created (its own key, so a retry replays both).
  const add = useAction(
    useCallback(
      async (key: string, e: string, n: string, r: "learner" | "company_manager", licensed: boolean) => {
        const outcome: Outcome | null = licensed ? await allocateOne(orgId, key, e, true) : null;
        // Someone who already holds a licence is left as they are (no name or role written over).
        if (outcome && outcome !== "allocated") return { email: e, outcome };
        if (!licensed || n.trim())
          await unwrap(
            api.PUT("/v1/orgs/{org_id}/users/{email}", {
              params: { path: { org_id: orgId, email: e }, header: { "Idempotency-Key": licensed ? `${key}.user` : key } },
              // Licensed, the learner is named only: an existing manager stays a manager.
              body: { ...(licensed ? {} : { role: r }), ...(n.trim() ? { name: n.trim() } : {}) },
            }),
          );
        return { email: e, outcome };
      },
      [orgId],
    ),
  );
  const licence = useAction(useCallback((key: string, e: string) => allocateOne(orgId, key, e).then((outcome) => ({ email: e, outcome })), [orgId]));
  const [releasing, setReleasing] = useState<string | null>(null);
  const [licensing, setLicensing] = useState("");
  const release = useAction(
    useCallback(
      (key: string, e: string) => unwrap(api.DELETE("/v1/orgs/{org_id}/users/{email}", { params: { path: { org_id: orgId, email: e }, header: { "Idempotency-Key": key } } })),
      [orgId],
    ),
  );
  async function submit(e: FormEvent) {
    e.preventDefault();
    release.reset();
    licence.reset();
    const r = await add.go(email.trim(), name, role, give && role === "learner");
    if (r && (!r.outcome || r.outcome === "allocated")) {
      setEmail("");
      setName("");
      setAdding(false);
      list.reload();
      headcount.reload();
    }
  }
  async function doLicence(e: string) {
    add.reset();
    release.reset();
    if (await licence.go(e)) {
      list.reload();
      headcount.reload();
    }
  }
  async function doRelease(e: string) {
    add.reset();
    licence.reset();
    const r = await release.go(e);
    if (r) {
      setReleasing(null);
      list.reload();
      headcount.reload();
    }
  }
  return (
    <>
      <div className="section-head">
        <h1>{t("users.title")}</h1>
        <Headcount counted={headcount} />
        <Link className="button" to={`${base}/renewals`}>
          {t("users.manageLicences")}
        </Link>
        <button type="button" disabled={exported.busy} onClick={() => void exported.go()}>
          {t("users.export")}
        </button>
        <button type="button" className="primary" aria-expanded={adding} onClick={() => setAdding(!adding)}>
          {t("users.add")}
        </button>
      </div>
      <ErrorBox error={exported.error} onRetry={() => void exported.go()} />
      {adding && (
        <form className="card form-inline" onSubmit={submit} aria-label={t("users.add")}>
          <Field label={t("common.email")}>{(id) => <input id={id} type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />}</Field>
          <Field label={t("common.name")}>{(id) => <input id={id} maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
          <Field label={t("users.role")}>
            {(id) => (
              <select id={id} value={role} onChange={(e) => setRole(e.target.value as "learner" | "company_manager")}>
                <option value="learner">{t("users.learnerRole")}</option>
                <option value="company_manager">{t("users.managerRole")}</option>
              </select>
            )}
          </Field>
          {role === "learner" && (
            <label className="inline-check">
              <input type="checkbox" checked={give} onChange={(e) => setGive(e.target.checked)} /> {t("users.giveLicence")}
            </label>
          )}
          <button type="submit" className="primary" disabled={add.busy}>
            {t("common.save")}
          </button>
          <ErrorBox
            error={add.error}
            onRetry={() => void add.retry(email.trim(), name, role, give && role === "learner").then((r) => r && (setAdding(false), list.reload(), headcount.reload()))}
          />
        </form>
      )}
      {add.result &&
        (add.result.outcome === "allocated" ? (
          <Success>{t("users.addedLicensed", { email: add.result.email })}</Success>
        ) : add.result.outcome ? (
          <LicenceOutcome outcome={add.result.outcome} email={add.result.email} />
        ) : (
          <Success>{t("users.added", { email: add.result.email })}</Success>
        ))}
      {licence.result && <LicenceOutcome outcome={licence.result.outcome} email={licence.result.email} />}
      <ErrorBox error={licence.error} onRetry={() => void licence.retry(licensing).then((r) => r && (list.reload(), headcount.reload()))} />
      {release.result && <Success>{t("users.released", { email: release.result.email })}</Success>}
      <ErrorBox error={release.error} onRetry={() => releasing && void doRelease(releasing)} />
      <form
        className="card filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          set("q", typed.trim());
        }}
      >
        <Field label={t("users.search")}>{(id) => <input id={id} type="search" value={typed} onChange={(e) => setTyped(e.target.value)} />}</Field>
        <button type="submit">{t("common.apply")}</button>
        <Field label={t("users.filter")}>
          {(id) => (
            <select id={id} value={status} onChange={(e) => set("status", e.target.value)}>
              <option value="">{t("users.anyStatus")}</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {t(`users.licenceStatus.${s}`)}
                </option>
              ))}
            </select>
          )}
        </Field>
      </form>
      <ErrorBox error={list.error} onRetry={list.reload} />
      {list.loading && !list.data && <Loading />}
      {/* A filtered page may be empty while the API's cursor goes on. */}
      {list.data && list.items.length === 0 && <p>{list.hasNext ? t("common.emptyPage") : t("common.empty")}</p>}
      {list.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("common.email")}</th>
              <th scope="col">{t("common.name")}</th>
              <th scope="col">{t("users.role")}</th>
              <th scope="col">{t("users.licence")}</th>
              <th scope="col">{t("renewals.renewable")}</th>
              <th scope="col">{t("renewals.lastLogin")}</th>
              <th scope="col">{t("common.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((u) => (
              <tr key={u.email} data-email={u.email}>
                <td>
                  <Link to={`${base}/users/${encodeURIComponent(u.email)}`}>{u.email}</Link>
                </td>
                <td>{u.name ?? ""}</td>
                <td>{u.role === "learner" ? t("users.learnerRole") : t("users.managerRole")}</td>
                <td>
                  <span className={`tag tag-${u.licence_status ?? "none"}`}>{t(`users.licenceStatus.${u.licence_status ?? "none"}`)}</span>
                  {u.licence?.valid_until && <span className="muted"> {f.date(u.licence.valid_until)}</span>}
                </td>
                <td>{u.renewable ? t("common.yes") : t("common.no")}</td>
                <td>{f.date(u.last_login_at)}</td>
                <td className="actions">
                  {licensable(u.licence_status) && (
                    <button type="button" aria-label={t("users.allocateOne", { email: u.email })} disabled={licence.busy} onClick={() => (setLicensing(u.email), void doLicence(u.email))}>
                      {t("users.allocate")}
                    </button>
                  )}
                  {u.licence_status !== "released" &&
                    (releasing === u.email ? (
                      <>
                        <span>{t("users.confirmRelease", { email: u.email })}</span>
                        <button type="button" className="danger" disabled={release.busy} onClick={() => void doRelease(u.email)}>
                          {t("users.release")}
                        </button>
                        <button type="button" onClick={() => setReleasing(null)}>
                          {t("common.cancel")}
                        </button>
                      </>
                    ) : (
                      <button type="button" aria-label={`${t("users.release")}: ${u.email}`} onClick={() => (setReleasing(u.email), release.reset())}>
                        {t("users.release")}
                      </button>
                    ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager {...list} />
    </>
  );
}
