import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { NavLink, useSearchParams } from "react-router";
import { api, ApiError, NetworkError, unwrap, type Schemas } from "../api/client";
import type { ImportRowOutcome } from "../api/pending";
import { useAction, usePaged } from "../hooks";
import { useFormat } from "../format";
import { useOrg } from "../org";
import { csvHeader } from "../csv";
import { ErrorBox, Field, Loading, Pager, Success } from "../components/ui";

type Review = Schemas["Import"] & { columns?: string[] };
type Mode = "renew" | "sync";
const OUTCOMES: ImportRowOutcome[] = ["renew", "already_active", "unknown", "duplicate", "invalid"];

async function fileText(file: File): Promise<string> {
  if (/\.xlsx$/i.test(file.name) || file.type === "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") {
    const { xlsxToCsv } = await import("../xlsx");
    return xlsxToCsv(await file.arrayBuffer());
  }
  return file.text();
}

/** Import allocation (seeds 002, 004): upload, choose the e-mail column, review every count with its
 * rows, then Renew licences; a commit that continues in the background shows its progress. */
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
  const [csv, setCsv] = useState<string | null>(null);
  const [columns, setColumns] = useState<string[]>([]);
  const [column, setColumn] = useState("");
  const [review, setReview] = useState<Review | null>(null);
  const [readError, setReadError] = useState<string | null>(null);
  const [open, setOpen] = useState<ImportRowOutcome | null>(null);
  const [progress, setProgress] = useState<Schemas["Import"] | null>(null);

  const upload = useAction(
    useCallback(
      async (key: string, text: string, emailColumn: string | null, m: Mode) =>
        unwrap(
          api.POST("/v1/orgs/{org_id}/imports", {
            params: {
              path: { org_id: orgId },
              query: { mode: m, ...(emailColumn ? { email_column: emailColumn } : {}) },
              header: { "Idempotency-Key": key },
            },
            body: text,
            bodySerializer: (b: unknown) => b as string,
            headers: { "Content-Type": "text/csv; charset=utf-8" },
          }),
        ) as Promise<Review>,
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

  async function send(text: string, emailColumn: string | null, m: Mode) {
    setReview(null);
    setOpen(null);
    const r = await upload.go(text, emailColumn, m);
    if (r) {
      setReview(r);
      if (r.columns?.length) setColumns(r.columns);
      setColumn(r.email_column ?? emailColumn ?? "");
    }
  }

  async function choose(e: FormEvent) {
    e.preventDefault();
    if (!file) return;
    setReadError(null);
    let text: string;
    try {
      text = await fileText(file);
    } catch {
      setReadError(t("import.xlsxFailed"));
      return;
    }
    const header = csvHeader(text);
    if (header.length === 0 || header.every((h) => !h)) {
      setReadError(t("import.noColumns"));
      return;
    }
    setCsv(text);
    setColumns(header);
    setColumn("");
    await send(text, null, mode);
  }

  // A commit the API continues in the background: poll the record until it is done.
  useEffect(() => {
    if (!progress || progress.status !== "committing") return;
    const timer = setTimeout(async () => {
      try {
        const r = await unwrap(api.GET("/v1/orgs/{org_id}/imports/{import_id}", { params: { path: { org_id: orgId, import_id: progress.import_id } } }));
        setProgress(r);
        if (r.status !== "committing") onChanged();
      } catch (e) {
        if (!(e instanceof NetworkError)) setProgress({ ...progress, status: "failed", error: String((e as Error).message) });
        else setProgress({ ...progress });
      }
    }, 1000);
    return () => clearTimeout(timer);
  }, [progress, orgId, onChanged]);

  async function renew() {
    if (!review) return;
    const r = await confirm.go(review.import_id);
    if (r) {
      setProgress(r);
      if (r.status !== "committing") onChanged();
    }
  }

  function restart() {
    setFile(null);
    setCsv(null);
    setColumns([]);
    setReview(null);
    setProgress(null);
    upload.reset();
    confirm.reset();
  }

  const s = review?.summary;
  const noColumn = upload.error instanceof ApiError && upload.error.code === "invalid_request" && csv !== null;
  const outcomes = mode === "sync" ? [...OUTCOMES, "release" as const] : OUTCOMES;
  const count = (o: ImportRowOutcome) => (s ? (o === "release" ? (s.release ?? 0) : s[o]) : 0);

  if (progress) {
    const total = (progress as { rows_total?: number }).rows_total ?? 0;
    const done = (progress as { rows_done?: number }).rows_done ?? 0;
    return (
      <section aria-labelledby="import-h">
        <h2 id="import-h">{t("import.title")}</h2>
        {progress.status === "committing" && (
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
        {progress.status !== "committing" && (
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
                  if (csv) void send(csv, column || null, m);
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
        <button type="submit" className="primary" disabled={!file || upload.busy}>
          {t("import.upload")}
        </button>
      </form>
      {readError && (
        <div role="alert" className="alert alert-error">
          <p>{readError}</p>
        </div>
      )}
      {upload.busy && <Loading />}
      <ErrorBox error={upload.error} onRetry={() => csv && void upload.retry(csv, column || null, mode).then((r) => r && setReview(r))} />
      {(review || noColumn) && columns.length > 0 && (
        <Field label={t("import.column")}>
          {(id) => (
            <select
              id={id}
              value={column}
              disabled={upload.busy}
              onChange={(e) => {
                setColumn(e.target.value);
                if (csv && e.target.value) void send(csv, e.target.value, mode);
              }}
            >
              {!column && <option value="">{t("import.chooseColumn")}</option>}
              {columns.map((c) => (
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
                    {count(o) > 0 && (
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
          {open && <Rows review={review} outcome={open} />}
          {mode === "sync" && (s.release ?? 0) > 0 && <p className="alert alert-warn">{t("import.syncWarning", { count: s.release })}</p>}
          {s.shortfall > 0 ? (
            <div role="alert" className="alert alert-error">
              <p>{t("import.shortfallText", { shortfall: f.number(s.shortfall), renew: f.number(s.renew), available: f.number(s.available) })}</p>
              <NavLink className="button primary" to={`${base}/licences/orders?request=${s.shortfall}`}>
                {t("expired.orderMore", { count: s.shortfall })}
              </NavLink>
            </div>
          ) : null}
          <ErrorBox error={confirm.error} onRetry={() => review && void confirm.retry(review.import_id).then((r) => r && setProgress(r))} />
          <button type="button" className="primary" disabled={confirm.busy || s.shortfall > 0 || (s.renew === 0 && (s.release ?? 0) === 0)} onClick={() => void renew()}>
            {t("import.renew")}
          </button>
        </section>
      )}
    </section>
  );
}

/** The rows behind one count: from the API's rows route, or the review's own first rows where the
 * server does not have that route yet. */
function Rows({ review, outcome }: { review: Review; outcome: ImportRowOutcome }) {
  const { t } = useTranslation();
  const { orgId } = useOrg();
  const rows = usePaged(async (cursor) => {
    try {
      return await unwrap(
        api.GET("/v1/orgs/{org_id}/imports/{import_id}/rows", { params: { path: { org_id: orgId, import_id: review.import_id }, query: { outcome, cursor } } }),
      );
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && cursor === undefined) {
        return { items: (review.rows ?? []).filter((r) => r.outcome === outcome), next_cursor: null };
      }
      throw e;
    }
  }, [orgId, review.import_id, outcome]);
  const label = t("import.rowsOf", { outcome: t(`import.outcomes.${outcome}`) });
  return (
    <section aria-label={label} className="rows">
      <h4>{label}</h4>
      <ErrorBox error={rows.error} onRetry={rows.reload} />
      {rows.loading && !rows.data && <Loading />}
      {rows.items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t("import.line")}</th>
              <th scope="col">{t("common.email")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.items.map((r) => (
              <tr key={`${r.line}-${r.email}`}>
                <td className="num">{r.line}</td>
                <td>{r.email}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager {...rows} />
    </section>
  );
}
