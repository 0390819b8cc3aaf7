// What the signed-in account may see, in a few words for an app's header: GET /v1/me's `scope`
// (the same scope the server enforces): everything, a probation officer's caseload, a dispatcher's
// jurisdiction, a police investigator's station's areas (their cases), the incidents a field officer
// is sent to, herself, or no one's records.
import { addStrings, language, t } from "/web/common/i18n.js";

addStrings("ko", {
  "scope.all": "전체 관제 대상",
  "scope.caseload": "담당 대상자 {n}명",
  "scope.jurisdiction": "관할 {areas}",
  "scope.station": "경찰서 구역 {areas}",
  "scope.assigned": "배정된 사건 {n}건",
  "scope.self": "본인",
  "scope.none": "위치·경보 열람 없음",
  "scope.evidence": "증거 자료만 (목적 기재)",
});
addStrings("en", {
  "scope.all": "everyone monitored",
  "scope.caseload": "caseload: {n} subjects",
  "scope.jurisdiction": "jurisdiction: {areas}",
  "scope.station": "station's areas: {areas}",
  "scope.assigned": "assigned incidents: {n}",
  "scope.self": "herself",
  "scope.none": "no records, positions or alerts",
  "scope.evidence": "evidence files only (with a purpose)",
});

// The scope as header text ("" when the server said none), in the current language.
export function scopeText(scope) {
  if (!scope || !scope.kind) return "";
  if (scope.kind === "caseload") return t("scope.caseload", { n: scope.subjects });
  if (scope.kind === "assigned") return t("scope.assigned", { n: scope.alerts });
  if (scope.kind === "jurisdiction" || scope.kind === "station") {
    const english = language() === "en";
    const areas = (scope.areas || []).map((a) => (english ? a.name_en : a.name) || a.code).join(", ");
    return t(`scope.${scope.kind}`, { areas });
  }
  return t(`scope.${scope.kind}`);
}
