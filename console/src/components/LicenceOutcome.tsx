import { useTranslation } from "react-i18next";
import { Success } from "./ui";

/** What allocating a licence to one learner came to, in words. */
export function LicenceOutcome({ outcome, email }: { outcome: string; email: string }) {
  const { t } = useTranslation();
  if (outcome === "allocated" || outcome === "already_active") return <Success>{t(`users.licenceOutcome.${outcome}`, { email })}</Success>;
  return (
    <div role="alert" className="alert alert-error">
      <p>{t(`users.licenceOutcome.${outcome}`, { email })}</p>
    </div>
  );
}
