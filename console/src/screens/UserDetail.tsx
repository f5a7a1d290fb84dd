import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { api, unwrap } from "../api/client";
import { useAction, useLoad, usePaged } from "../hooks";
import { endOfDay, useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Field, Loading, Pager, Success } from "../components/ui";
import { Headcount, useHeadcount } from "../components/Headcount";
import { allocateOne, licensable } from "../allocate";
import { LicenceOutcome } from "../components/LicenceOutcome";
import type { components } from "../api/schema.gen";

type Enrolment = components["schemas"]["Enrolment"];

/** One user: the licence (allocate one, release), the subscription's size, the enrolments. */
export default function UserDetail() {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId, base } = useOrg();
  const email = useParams().email ?? "";
  const user = useLoad(() => unwrap(api.GET("/v1/orgs/{org_id}/users/{email}", { params: { path: { org_id: orgId, email } } })), [orgId, email]);
  const enrolments = usePaged(
    (cursor) => unwrap(api.GET("/v1/orgs/{org_id}/users/{email}/enrolments", { params: { path: { org_id: orgId, email }, query: { cursor } } })),
    [orgId, email],
  );
  const release = useAction(
    useCallback(
      (key: string) => unwrap(api.DELETE("/v1/orgs/{org_id}/users/{email}", { params: { path: { org_id: orgId, email }, header: { "Idempotency-Key": key } } })),
      [orgId, email],
    ),
  );
  const counted = useHeadcount(orgId);
  const licence = useAction(useCallback((key: string) => allocateOne(orgId, key, email), [orgId, email]));
  const u = user.data;
  // Arrived here from an erasure: this page is the user under its pseudonym.
  const erasedNow = (useLocation().state as { erased?: boolean } | null)?.erased === true;
  async function doLicence() {
    release.reset();
    if (await licence.go()) {
      user.reload();
      counted.reload();
    }
  }
  return (
    <>
      <p>
        <Link to={`${base}/users`}>← {t("users.title")}</Link>
      </p>
      <div className="section-head">
        <h1>{t("users.details", { email })}</h1>
        <Headcount counted={counted} />
      </div>
      <ErrorBox error={user.error} onRetry={user.reload} />
      {user.loading && !u && <Loading />}
      {u && (
        <dl className="facts facts-wide">
          <div>
            <dt>{t("common.name")}</dt>
            <dd>{u.name ?? "—"}</dd>
          </div>
          <div>
            <dt>{t("users.licence")}</dt>
            <dd>{t(`users.licenceStatus.${u.licence_status ?? "none"}`)}</dd>
          </div>
          <div>
            <dt>{t("licences.validUntil")}</dt>
            <dd>{f.date(u.licence?.valid_until)}</dd>
          </div>
          <div>
            <dt>{t("renewals.licenceCount")}</dt>
            <dd>{f.number(u.licence_count)}</dd>
          </div>
          <div>
            <dt>{t("renewals.lastLogin")}</dt>
            <dd>{f.date(u.last_login_at)}</dd>
          </div>
        </dl>
      )}
      <div className="actions">
        {u && licensable(u.licence_status) && (
          <button type="button" className="primary" disabled={licence.busy} onClick={() => void doLicence()}>
            {t("users.allocate")}
          </button>
        )}
      </div>
      {licence.result && <LicenceOutcome outcome={licence.result} email={email} />}
      <ErrorBox error={licence.error} onRetry={() => void licence.retry()} />
      {erasedNow && <Success>{t("users.erased", { pseudonym: email })}</Success>}
      {u && !erasedNow && !email.endsWith("@erased.invalid") && (
        <DeleteUser
          email={email}
          released={u.licence_status === "released"}
          release={() => (licence.reset(), void release.go().then((r) => r && (user.reload(), counted.reload())))}
          releasing={release.busy}
        />
      )}
      {release.result && <Success>{t("users.released", { email })}</Success>}
      <ErrorBox error={release.error} onRetry={() => void release.retry()} />
      <section aria-labelledby="enr-h">
        <h2 id="enr-h">{t("users.enrolments")}</h2>
        <ErrorBox error={enrolments.error} onRetry={enrolments.reload} />
        {enrolments.loading && !enrolments.data && <Loading />}
        {enrolments.data && enrolments.items.length === 0 && !enrolments.hasNext && <p>{t("users.noEnrolments")}</p>}
        {enrolments.items.length > 0 && (
          <table>
            <thead>
              <tr>
                <th scope="col">{t("users.enrolment")}</th>
                <th scope="col">{t("common.status")}</th>
                <th scope="col">{t("users.startsAt")}</th>
                <th scope="col">{t("users.endsAt")}</th>
                <th scope="col">{t("common.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {enrolments.items.map((e) => (
                <EnrolmentRow key={e.enrolment_id} enrolment={e} onChanged={() => (enrolments.reload(), user.reload(), counted.reload())} />
              ))}
            </tbody>
          </table>
        )}
        <Pager {...enrolments} />
      </section>
    </>
  );
}

/**
 * One enrolment with the manager's actions (the help pages: "de inschrijving handmatig te activeren"
 * and "SET EXPIRY DATE"). The API replaces an enrolment whole, so each action sends it as
 * shown with the one change. A date in the past ends the enrolment at once (it is listed as
 * expired, and no longer counts, from that moment).
 */
function EnrolmentRow({ enrolment: e, onChanged }: { enrolment: Enrolment; onChanged: () => void }) {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId } = useOrg();
  const email = e.email;
  const [editing, setEditing] = useState(false);
  const [day, setDay] = useState((e.ends_at ?? "").slice(0, 10));
  // The end as stored now (an activation may have set one).
  useEffect(() => setDay((e.ends_at ?? "").slice(0, 10)), [e.ends_at]);
  const put = useAction(
    useCallback(
      (key: string, status: Enrolment["status"], endsAt: string | null | undefined) =>
        unwrap(
          api.PUT("/v1/orgs/{org_id}/users/{email}/enrolments/{enrolment_id}", {
            params: { path: { org_id: orgId, email, enrolment_id: e.enrolment_id }, header: { "Idempotency-Key": key } },
            body: { status, starts_at: e.starts_at ?? null, ends_at: endsAt ?? null },
          }),
        ),
      [orgId, email, e.enrolment_id, e.starts_at],
    ),
  );
  async function save(ev: FormEvent) {
    ev.preventDefault();
    if (await put.go(e.status, endOfDay(day))) {
      setEditing(false);
      onChanged();
    }
  }
  const id = e.enrolment_id;
  return (
    <tr data-enrolment={id}>
      <td>{id}</td>
      <td>{t(`users.enrolmentStatus.${e.status}`)}</td>
      <td>{f.date(e.starts_at)}</td>
      <td>{f.date(e.ends_at)}</td>
      <td className="actions">
        {e.status === "new" && (
          <button type="button" aria-label={t("users.activateOne", { id })} disabled={put.busy} onClick={() => void put.go("active", e.ends_at).then((r) => r && onChanged())}>
            {t("users.activate")}
          </button>
        )}
        {e.status !== "expired" &&
          (editing ? (
            <form className="form-inline" onSubmit={save} aria-label={t("users.setExpiryOne", { id })}>
              <Field label={t("users.expiryDateOf", { id })}>
                {(fid) => <input id={fid} type="date" required value={day} onChange={(ev) => setDay(ev.target.value)} />}
              </Field>
              <button type="submit" className="primary" disabled={put.busy}>
                {t("common.save")}
              </button>
              <button type="button" onClick={() => (setEditing(false), put.reset())}>
                {t("common.cancel")}
              </button>
            </form>
          ) : (
            <button type="button" aria-label={t("users.setExpiryOne", { id })} onClick={() => setEditing(true)}>
              {t("users.setExpiry")}
            </button>
          ))}
        <ErrorBox error={put.error} />
      </td>
    </tr>
  );
}

/**
 * "Delete user" (the help pages' bin icon) as two clear choices: release the licence and keep
 * the records, or erase the personal data — the e-mail and name replaced by a pseudonym
 * everywhere, the counts kept. The API refuses an erasure until the user is released (release
 * first); its message is shown as it says it.
 */
function DeleteUser({ email, released, release, releasing }: { email: string; released: boolean; release: () => void; releasing: boolean }) {
  const { t } = useTranslation();
  const { orgId, base } = useOrg();
  const navigate = useNavigate();
  const [confirming, setConfirming] = useState(false);
  const erase = useAction(
    useCallback(
      (key: string) =>
        unwrap(api.POST("/v1/orgs/{org_id}/users/{email}/erase", { params: { path: { org_id: orgId, email }, header: { "Idempotency-Key": key } } })),
      [orgId, email],
    ),
  );
  async function doErase() {
    const r = await erase.go();
    if (r) navigate(`${base}/users/${encodeURIComponent(r.pseudonym)}`, { replace: true, state: { erased: true } });
  }
  return (
    <section aria-labelledby="delete-h" className="card">
      <h2 id="delete-h">{t("users.delete")}</h2>
      <p>{t("users.deleteIntro")}</p>
      <div className="actions">
        <button type="button" disabled={released || releasing} onClick={release}>
          {t("users.releaseKeep")}
        </button>
        <button type="button" className="danger" onClick={() => (setConfirming(true), erase.reset())}>
          {t("users.erase")}
        </button>
      </div>
      {confirming && (
        <div role="group" aria-label={t("users.erase")} className="actions">
          <span>{t("users.confirmErase", { email })}</span>
          <button type="button" className="danger" disabled={erase.busy} onClick={() => void doErase()}>
            {t("users.eraseConfirm")}
          </button>
          <button type="button" onClick={() => (setConfirming(false), erase.reset())}>
            {t("common.cancel")}
          </button>
        </div>
      )}
      <ErrorBox error={erase.error} />
    </section>
  );
}
