import { useCallback, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router";
import { api, unwrap, type Schemas } from "../api/client";
import { useAction, useLoad } from "../hooks";
import { ErrorBox, Field, Loading, Success } from "../components/ui";

type Settings = Schemas["PolicySettings"];
type Policy = Schemas["Policy"];
type Key = keyof Settings & keyof Policy;

const CHOICES: Partial<Record<Key, string[]>> = {
  term_starts: ["assignment", "activation"],
  renewal: ["manual", "automatic"],
  counting: ["licences", "active_users", "users"],
  enforcement: ["hard", "soft"],
  uses_per_seat: ["none", "1", "2", "3", "4", "5"],
  locale: ["en", "nl"],
  reminder_hours: ["72", "48", "24"],
};
const NUMBERS: Key[] = ["term_months", "seats_included", "run_access_months", "reminder_hours"];
const KEYS: Key[] = ["term_months", "term_starts", "renewal", "counting", "enforcement", "seats_included", "uses_per_seat", "tiers", "notify_emails", "locale", "time_zone", "run_access_months", "reminder_hours"];

/** `licence_name` as four fields, `{lang}.{form}`: a language is sent whole (both forms), the form not typed taken as in force. */
const NAMES = ["en.one", "en.other", "nl.one", "nl.other"] as const;
type NameKey = (typeof NAMES)[number];
const named = (v: unknown, k: NameKey): string | undefined => {
  const [lang, form] = k.split(".");
  return (v as Record<string, Record<string, string> | undefined> | undefined)?.[lang]?.[form];
};

function show(v: unknown): string {
  if (Array.isArray(v)) return v.join(", ");
  return v == null ? "" : String(v);
}

/** The policy knobs of one org (vendor admin): inherited unless set here; only changes are sent. */
export default function PolicyForm() {
  const { t } = useTranslation();
  const org_id = useParams().policyOrg ?? "";
  const org = useLoad(() => unwrap(api.GET("/v1/orgs/{org_id}", { params: { path: { org_id } } })), [org_id]);
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [nothing, setNothing] = useState(false);
  const save = useAction(
    useCallback((key: string, body: Settings) => unwrap(api.PUT("/v1/orgs/{org_id}/policy", { params: { path: { org_id }, header: { "Idempotency-Key": key } }, body })), [org_id]),
  );
  const own = (org.data?.own_policy ?? {}) as Record<string, unknown>;
  const effective = (org.data?.policy ?? {}) as Record<string, unknown>;
  const label = (k: Key, v: string) => (CHOICES[k] ? t(`policy.values.${v}`, { defaultValue: v }) : v);

  function body(): Settings {
    const b: Record<string, unknown> = {};
    for (const [k, raw] of Object.entries(draft)) {
      const key = k as Key;
      if (k.startsWith("licence_name.")) continue;
      if (NUMBERS.includes(key)) b[k] = Number(raw);
      else if (key === "uses_per_seat") b[k] = raw === "none" ? "none" : Number(raw);
      else if (key === "tiers") b[k] = raw.split(",").map((x) => x.trim()).filter(Boolean).map(Number);
      else if (key === "notify_emails") b[k] = raw.split(",").map((x) => x.trim()).filter(Boolean);
      else b[k] = raw;
    }
    const names: Record<string, { one: string; other: string }> = {};
    for (const lang of ["en", "nl"] as const) {
      if (!NAMES.some((k) => k.startsWith(lang) && `licence_name.${k}` in draft)) continue;
      const form = (f: "one" | "other") => {
        const k = `${lang}.${f}` as NameKey;
        return draft[`licence_name.${k}`] ?? named(own.licence_name, k) ?? named(effective.licence_name, k) ?? "";
      };
      names[lang] = { one: form("one"), other: form("other") };
    }
    if (Object.keys(names).length > 0) b.licence_name = names;
    return b as Settings;
  }
  async function submit(e: FormEvent) {
    e.preventDefault();
    setNothing(false);
    if (Object.keys(draft).length === 0) {
      setNothing(true);
      return;
    }
    const r = await save.go(body());
    if (r) {
      setDraft({});
      org.reload();
    }
  }
  const change = (k: Key, v: string) => edit(k, v, own[k]);
  const edit = (k: string, v: string, was: unknown) => {
    save.reset();
    setDraft((d) => {
      const n = { ...d };
      if (v === show(was) || (v === "" && was === undefined)) delete n[k];
      else n[k] = v;
      return n;
    });
  };
  const name = org.data?.name ?? org_id;
  return (
    <>
      <p>
        <Link to="/vendor">← {t("vendor.title")}</Link>
      </p>
      <h1>{t("policy.title", { name })}</h1>
      <p>{t("policy.intro")}</p>
      <ErrorBox error={org.error} onRetry={org.reload} />
      {org.loading && !org.data && <Loading />}
      {org.data && (
        <form className="card policy" onSubmit={submit}>
          {KEYS.map((k) => {
            const set = own[k] !== undefined;
            const value = draft[k] ?? show(own[k]);
            const hint = set ? t("policy.setHere") : t("policy.inherited", { value: label(k, show(effective[k])) || "—" });
            return (
              <Field key={k} label={t(`policy.${k}`)} hint={hint}>
                {(id) =>
                  CHOICES[k] ? (
                    <select id={id} name={k} value={value} onChange={(e) => change(k, e.target.value)}>
                      {!set && <option value="">{t("policy.inherited", { value: label(k, show(effective[k])) })}</option>}
                      {[...new Set([...CHOICES[k]!, ...(value ? [value] : [])])].map((c) => (
                        <option key={c} value={c}>
                          {label(k, c)}
                        </option>
                      ))}
                    </select>
                  ) : (
                    <input
                      id={id}
                      name={k}
                      type={NUMBERS.includes(k) ? "number" : "text"}
                      min={k === "term_months" ? 1 : 0}
                      placeholder={set ? undefined : show(effective[k])}
                      value={value}
                      onChange={(e) => change(k, e.target.value)}
                    />
                  )
                }
              </Field>
            );
          })}
          {NAMES.map((k) => {
            const was = named(own.licence_name, k);
            const hint = was !== undefined ? t("policy.setHere") : t("policy.inherited", { value: named(effective.licence_name, k) ?? "—" });
            return (
              <Field key={k} label={t(`policy.licenceName.${k.replace(".", "_")}`)} hint={hint}>
                {(id) => (
                  <input
                    id={id}
                    name={`licence_name.${k}`}
                    type="text"
                    maxLength={40}
                    placeholder={was === undefined ? named(effective.licence_name, k) : undefined}
                    value={draft[`licence_name.${k}`] ?? was ?? ""}
                    onChange={(e) => edit(`licence_name.${k}`, e.target.value, was)}
                  />
                )}
              </Field>
            );
          })}
          <button type="submit" className="primary" disabled={save.busy}>
            {t("common.save")}
          </button>
          {nothing && <p role="status">{t("policy.nothingChanged")}</p>}
          {save.result && <Success>{t("policy.saved")}</Success>}
          <ErrorBox error={save.error} onRetry={() => void save.retry(body())} />
        </form>
      )}
    </>
  );
}

