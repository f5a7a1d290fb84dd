import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { NavLink, useSearchParams } from "react-router";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { useAction, useJob, useMore } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { ErrorBox, Field, Loading, Success } from "../components/ui";

type Review = Schemas["Import"];
type Outcome = Schemas["ImportRow"]["outcome"];
type Mode = "renew" | "sync";
const OUTCOMES: Outcome[] = ["renew", "already_active", "unknown", "duplicate", "invalid"];
const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/** Rows read per "Show more". */
const ROWS_PAGE = 100;

/** How the file is sent: the API reads CSV text and Excel workbooks itself (and knows a workbook by
 * its first bytes too, whatever it is called). */
function mediaType(file: File): string {
  if (/\.xlsx$/i.test(file.name) || file.type === XLSX) return XLSX;
  if (/\.(csv|txt)$/i.test(file.name) || file.type.startsWith("text/")) return "text/csv";
  return "application/octet-stream";
}

/** The header the API names in a refusal, when it does (`details.columns`). */
function refusedColumns(e: unknown): string[] {
  if (!(e instanceof ApiError)) return [];
  const c = e.details.columns;
  return Array.isArray(c) ? c.filter((x): x is string => typeof x === "string") : [];
}

/** Import allocation (docs/domain.md#imports): upload the file as it is, choose the e-mail column among the
 * columns the API read, review every count with its rows, then Renew licences; a commit that
 * continues in the background shows its progress. */
export default function ImportWizard({ onChanged }: { onChanged: () => void }) {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId, base } = useOrg();
  const [search, setSearch] = useSearchParams();
  const urlMode: Mode = search.get("mode") === "sync" ? "sync" : "renew";
  // Held here too, so the radio follows a click at once (the URL updates in a transition).
  const [mode, setMode] = useState<Mode>(urlMode);
  useEffect(() => setMode(urlMode), [urlMode]);
  const [file, setFile] = useState<File | null>(null);
  // The file that was sent (re-sent with another column or mode).
  const [sent, setSent] = useState<File | null>(null);
  const [columns, setColumns] = useState<string[]>([]);
  const [column, setColumn] = useState("");
  const [review, setReview] = useState<Review | null>(null);
  const [open, setOpen] = useState<Outcome | null>(null);
  // A commit the API continues in the background: read again until it is done (`useJob`).
  const polled = useJob(
    useCallback(
      (job: Schemas["Import"]) => unwrap(api.GET("/v1/orgs/{org_id}/imports/{import_id}", { params: { path: { org_id: orgId, import_id: job.import_id } } })),
      [orgId],
    ),
    onChanged,
  );
  const progress = polled.job;
  const setProgress = polled.start;

  const post = useAction(
    useCallback(
      (key: string, upload: File, emailColumn: string | null, m: Mode) =>
        unwrap(
          api.POST("/v1/orgs/{org_id}/imports", {
            params: {
              path: { org_id: orgId },
              query: { mode: m, ...(emailColumn ? { email_column: emailColumn } : {}) },
              header: { "Idempotency-Key": key },
            },
            // The file's own bytes (a Blob), not a string made of them.
            body: upload as unknown as string,
            bodySerializer: (b: unknown) => b,
            headers: { "Content-Type": mediaType(upload) },
          }),
        ),
      [orgId],
    ),
  );
  const confirm = useAction(
    useCallback(
      (key: string, id: string) =>
        unwrap(api.POST("/v1/orgs/{org_id}/imports/{import_id}/confirm", { params: { path: { org_id: orgId, import_id: id }, header: { "Idempotency-Key": key } } })),
      [orgId],
    ),
  );

  function accept(r: Review) {
    setReview(r);
    setColumns(r.columns);
    setColumn(r.email_column ?? "");
  }

  async function send(upload: File, emailColumn: string | null, m: Mode) {
    setReview(null);
    setOpen(null);
    const r = await post.go(upload, emailColumn, m);
    if (r) accept(r);
  }

  async function choose(e: FormEvent) {
    e.preventDefault();
    if (!file) return;
    setSent(file);
    setColumns([]);
    setColumn("");
    await send(file, null, mode);
  }

  async function renew() {
    if (!review) return;
    const r = await confirm.go(review.import_id);
    if (r) setProgress(r);
  }

  function restart() {
    setFile(null);
    setSent(null);
    setColumns([]);
    setColumn("");
    setReview(null);
    setProgress(null);
    post.reset();
    confirm.reset();
  }

  const s = review?.summary;
  // The columns to choose from: the review's, or those the API names when it refuses the file.
  const choices = columns.length > 0 ? columns : refusedColumns(post.error);
  const outcomes: Outcome[] = mode === "sync" ? [...OUTCOMES, "release"] : OUTCOMES;
  const count = (o: Outcome) => (s ? s[o] : 0);

  if (progress) {
    const total = (progress as { rows_total?: number }).rows_total ?? 0;
    const done = (progress as { rows_done?: number }).rows_done ?? 0;
    return (
      <section aria-labelledby="import-h">
        <h2 id="import-h">{t("import.title")}</h2>
        <ErrorBox error={polled.error} />
        {progress.status === "committing" && !polled.error && (
          <div>
            <p role="status">{t("import.committing")}</p>
            <progress max={total || 1} value={done} aria-label={t("import.progress")} />
            <span>
              {" "}
              {f.number(done)} / {f.number(total)}
            </span>
          </div>
        )}
        {progress.status === "committed" && <Success>{t("import.result", { allocated: f.number(progress.allocated), released: f.number(progress.released) })}</Success>}
        {progress.status === "failed" && (
          <div role="alert" className="alert alert-error">
            <p>{t("import.failed", { error: progress.error ?? "" })}</p>
          </div>
        )}
        {(progress.status !== "committing" || !!polled.error) && (
          <p className="actions">
            <button type="button" onClick={restart}>
              {t("import.again")}
            </button>
            <NavLink className="button" to={`${base}/licences/expired`}>
              {t("licences.tabExpired")}
            </NavLink>
          </p>
        )}
      </section>
    );
  }

  return (
    <section aria-labelledby="import-h">
      <h2 id="import-h">{t("import.title")}</h2>
      <p>{t("import.intro")}</p>
      <form className="card" onSubmit={choose}>
        <fieldset>
          <legend>{t("import.mode")}</legend>
          {(["renew", "sync"] as const).map((m) => (
            <label key={m} className="radio">
              <input
                type="radio"
                name="mode"
                value={m}
                checked={mode === m}
                onChange={() => {
                  setMode(m);
                  setSearch(m === "sync" ? { mode: "sync" } : {}, { replace: true });
                  if (sent) void send(sent, column || null, m);
                }}
              />
              {m === "renew" ? t("import.modeRenew") : t("import.modeSync")}
            </label>
          ))}
        </fieldset>
        <Field label={t("import.file")}>
          {(id) => (
            <input
              id={id}
              type="file"
              accept=".csv,.txt,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
              onChange={(e) => setFile(e.target.files?.[0] ?? null)}
            />
          )}
        </Field>
        <button type="submit" className="primary" disabled={!file || post.busy}>
          {t("import.upload")}
        </button>
      </form>
      {post.busy && <Loading />}
      <ErrorBox error={post.error} onRetry={() => sent && void post.retry(sent, column || null, mode).then((r) => r && accept(r))} />
      {sent && choices.length > 0 && (
        <Field label={t("import.column")}>
          {(id) => (
            <select
              id={id}
              value={column}
              disabled={post.busy}
              onChange={(e) => {
                setColumn(e.target.value);
                if (sent && e.target.value) void send(sent, e.target.value, mode);
              }}
            >
              {!column && <option value="">{t("import.chooseColumn")}</option>}
              {choices.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          )}
        </Field>
      )}
      {review && s && (
        <section aria-labelledby="review-h">
          <h3 id="review-h">{t("import.review")}</h3>
          <table className="review">
            <thead>
              <tr>
                <th scope="col">{t("import.outcome")}</th>
                <th scope="col">{t("import.count")}</th>
                <th scope="col">
                  <span className="sr-only">{t("import.showRows")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {outcomes.map((o) => (
                <tr key={o} data-outcome={o}>
                  <th scope="row">{t(`import.outcomes.${o}`)}</th>
                  <td className="num">{f.number(count(o))}</td>
                  <td>
                    {count(o) > 0 && o !== "release" && (
                      <button type="button" aria-expanded={open === o} onClick={() => setOpen(open === o ? null : o)}>
                        {open === o ? t("import.hideRows") : t("import.showRows")}
                        <span className="sr-only">: {t(`import.outcomes.${o}`)}</span>
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">{t("import.rows")}</th>
                <td className="num">{f.number(s.rows)}</td>
                <td />
              </tr>
              <tr>
                <th scope="row">{t("import.available")}</th>
                <td className="num">{f.number(s.available)}</td>
                <td />
              </tr>
              <tr>
                <th scope="row">{t("import.shortfall")}</th>
                <td className="num">{f.number(s.shortfall)}</td>
                <td />
              </tr>
            </tfoot>
          </table>
          {open && <Rows importId={review.import_id} outcome={open} total={count(open)} />}
          {mode === "sync" && s.release > 0 && (
            <>
              <p className="alert alert-warn">{t("import.syncWarning", { count: s.release })}</p>
              <Rows importId={review.import_id} outcome="release" total={s.release} />
            </>
          )}
          {s.shortfall > 0 ? (
            <div role="alert" className="alert alert-error">
              <p>{t("import.shortfallText", { shortfall: f.number(s.shortfall), renew: f.number(s.renew), available: f.number(s.available) })}</p>
              <NavLink className="button primary" to={`${base}/licences/orders?request=${s.shortfall}`}>
                {t("expired.orderMore", { count: s.shortfall })}
              </NavLink>
            </div>
          ) : null}
          <ErrorBox error={confirm.error} onRetry={() => review && void confirm.retry(review.import_id).then((r) => r && setProgress(r))} />
          <button type="button" className="primary" disabled={confirm.busy || s.shortfall > 0 || (s.renew === 0 && s.release === 0)} onClick={() => void renew()}>
            {t("import.renew")}
          </button>
        </section>
      )}
    </section>
  );
}

/** The rows behind one count, from the API's rows route, a page at a time ("Show more"); under
 * mode = sync, `release` lists who would be released (not in the file: no line). */
function Rows({ importId, outcome, total }: { importId: string; outcome: Outcome; total: number }) {
  const { t } = useTranslation();
  const f = useFormat();
  const { orgId } = useOrg();
  const rows = useMore(
    (cursor) =>
      unwrap(
        api.GET("/v1/orgs/{org_id}/imports/{import_id}/rows", {
          params: { path: { org_id: orgId, import_id: importId }, query: { outcome, cursor, limit: ROWS_PAGE } },
        }),
      ),
    [orgId, importId, outcome],
  );
  const label = t("import.rowsOf", { outcome: t(`import.outcomes.${outcome}`) });
  return (
    <section aria-label={label} className="rows" data-outcome={outcome}>
      <h4>{label}</h4>
      {rows.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("import.line")}</th>
              <th scope="col">{t("common.email")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.items.map((r, i) => (
              <tr key={`${r.line ?? "-"}-${r.email}-${i}`}>
                <td className="num">{r.line ?? "—"}</td>
                <td>{r.email}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {rows.loaded && (
        <p className="muted" role="status">
          {t("import.shown", { shown: f.number(rows.items.length), total: f.number(total) })}
        </p>
      )}
      <ErrorBox error={rows.error} onRetry={rows.retry} />
      {rows.loading && <Loading />}
      {rows.hasMore && (
        <button type="button" disabled={rows.loading} onClick={rows.more}>
          {t("import.showMore")}
          <span className="sr-only">: {label}</span>
        </button>
      )}
    </section>
  );
}
