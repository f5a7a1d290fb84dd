import { useTranslation } from "react-i18next";
import type { components } from "./api/schema.gen";

export type Naming = components["schemas"]["Policy"]["licence_name"];

const capital = (s: string) => s.charAt(0).toLocaleUpperCase() + s.slice(1);

/**
 * What the vendor calls its licences (the policy's `licence_name`, which the usage report carries)
 * in the console's language, for headings: `other` as written, `Other` with a capital. Until the
 * report is read, none: the heading shows the console's own word.
 */
export function useLicenceName(naming: Naming | undefined): { other: string; Other: string } | undefined {
  const { i18n } = useTranslation();
  const name = naming?.[i18n.language === "nl" ? "nl" : "en"];
  return name && { other: name.other, Other: capital(name.other) };
}
