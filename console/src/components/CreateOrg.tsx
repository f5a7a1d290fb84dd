import { useCallback, useState, type FormEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, unwrap, type Schemas } from "../api/client";
import { useAction } from "../hooks";
import { ErrorBox, Field, Success } from "./ui";

type Kind = "partner" | "company";

/** Creates a partner or a company (POST /v1/orgs) under one of the given parents. */
export function CreateOrg({ parents, kinds, onCreated }: { parents: { org_id: string; name: string }[]; kinds: Kind[]; onCreated: (o: Schemas["Org"]) => void }) {
  const { t } = useTranslation();
  const [kind, setKind] = useState<Kind>(kinds[0]);
  const [name, setName] = useState("");
  const [id, setId] = useState("");
  const [parent, setParent] = useState(parents[0]?.org_id ?? "");
  const create = useAction(
    useCallback(
      (key: string, body: { name: string; kind: Kind; parent_id: string; org_id?: string }) =>
        unwrap(api.POST("/v1/orgs", { params: { header: { "Idempotency-Key": key } }, body })),
      [],
    ),
  );
  const body = () => ({ name: name.trim(), kind, parent_id: parent || parents[0]?.org_id, ...(id.trim() ? { org_id: id.trim() } : {}) });
  async function submit(e: FormEvent) {
    e.preventDefault();
    const r = await create.go(body());
    if (r) {
      setName("");
      setId("");
      onCreated(r);
    }
  }
  return (
    <form className="card form-inline" onSubmit={submit} aria-label={t("vendor.create")}>
      {kinds.length > 1 && (
        <Field label={t("vendor.kind")}>
          {(fid) => (
            <select id={fid} value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
              {kinds.map((k) => (
                <option key={k} value={k}>
                  {t(`vendor.kinds.${k}`)}
                </option>
              ))}
            </select>
          )}
        </Field>
      )}
      <Field label={t("common.name")}>{(fid) => <input id={fid} required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
      <Field label={t("companies.orgId")}>{(fid) => <input id={fid} pattern="[A-Za-z0-9._\-]{1,64}" value={id} onChange={(e) => setId(e.target.value)} />}</Field>
      {parents.length > 1 && (
        <Field label={t("vendor.parent")}>
          {(fid) => (
            <select id={fid} value={parent} onChange={(e) => setParent(e.target.value)}>
              {parents.map((p) => (
                <option key={p.org_id} value={p.org_id}>
                  {p.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      )}
      <button type="submit" className="primary" disabled={create.busy}>
        {t("common.save")}
      </button>
      <ErrorBox error={create.error} onRetry={() => void create.retry(body()).then((r) => r && onCreated(r))} />
      {create.result && <Success>{t("companies.created", { name: create.result.name })}</Success>}
    </form>
  );
}
